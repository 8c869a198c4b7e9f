c.B.y = 'sub'
c.B.w = [1]
