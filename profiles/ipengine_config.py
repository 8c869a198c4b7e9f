# Configuration file for ipengine.
#
# Read by ipengine (the C++ drop-in and Python ipyparallel 7.1-9.1). Every setting is commented
# out; uncomment what you need.

c = get_config()  # noqa

#------------------------------------------------------------------------------
# IPEngine configuration
#------------------------------------------------------------------------------
## Connection file to read. Default: security/ipcontroller[-<cluster_id>]-engine.json.
#  Default: ''
# c.IPEngine.url_file = ''

## Seconds to wait for the registration reply.
#  Default: 5.0
# c.IPEngine.timeout = 5.0

## Python code to run at start-up (ipengine -c).
#  Default: ''
# c.IPEngine.startup_command = ''

## A script to run at start-up (ipengine -s).
#  Default: ''
# c.IPEngine.startup_script = ''

## Working directory of the engine.
#  Default: the current directory
# c.IPEngine.work_dir = ''

## SSH server to tunnel the connections to the controller through, [user@]host[:port]
#  (ipengine --ssh / --sshserver). Unset, the engine file's "ssh" is used when the controller
#  wrote one (ipcontroller --enginessh). Keys only (agent, ~/.ssh defaults, sshkey below); the
#  server's host key must be in ~/.ssh/known_hosts.
#  Default: ''
# c.IPEngine.sshserver = ''

## Private key file for the SSH server (ipengine --sshkey).
#  Default: ''
# c.IPEngine.sshkey = ''

## The controller's CurveZMQ public key, when the connection file has no curve_serverkey (the
#  file's wins). Also $IPP_CURVE_SERVERKEY.
#  Default: ''
# c.IPEngine.curve_serverkey = ''

## The engine's own CurveZMQ key pair (also $IPP_CURVE_PUBLICKEY / $IPP_CURVE_SECRETKEY).
#  Empty: a new pair per start.
#  Default: ''
# c.IPEngine.curve_publickey = ''
# c.IPEngine.curve_secretkey = ''

#------------------------------------------------------------------------------
# MPI (ipengine --mpi, as ipcluster's MPI launcher starts it)
#------------------------------------------------------------------------------
## Initialise MPI (mpi4py) before registering; the MPI rank becomes the engine id.
#  Default: False
# c.IPEngine.use_mpi = False

## Code run first in the engine's namespace when use_mpi is set.
#  Default: 'from mpi4py import MPI\nmpi_rank = MPI.COMM_WORLD.Get_rank()\nmpi_size = MPI.COMM_WORLD.Get_size()\n'
# c.IPEngine.init_mpi = ''

## Engines with id >= 100 wait id * this many seconds before registering (spreads the load).
#  Default: 0.02
# c.IPEngine.mpi_registration_delay = 0.02
