c = get_config()
c.A.ok = 1
c.A.bad = [1, 2
c.A.after = 3
