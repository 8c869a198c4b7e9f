c = get_config()
import os
c.IPController.location = os.path.basename('/somewhere/host7')
c.EngineLauncher.engine_args.append('--foo')
c.EngineLauncher.engine_args.append('--bar')
c.Cluster.n = 2 * 3
if c.Cluster.n > 4:
    c.Cluster.delay = 0.5
