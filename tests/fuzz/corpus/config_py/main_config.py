c = get_config()
c.A.x = 1
c.B.y = 'main'
load_subconfig('sub_config.py')
load_subconfig('missing_config.py')
c.A.z = 3
