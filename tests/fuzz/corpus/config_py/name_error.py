c = get_config()
c.A.ok = 1

c.A.bad = undefined_name + 1
