# Configuration file for ipcontroller.
#
# Read by ipcontroller (the C++ drop-in and Python ipyparallel 7.1-9.1). Every setting is
# commented out; uncomment what you need.

c = get_config()  # noqa

#------------------------------------------------------------------------------
# IPController configuration
#------------------------------------------------------------------------------
## Interface to listen on: '127.0.0.1' (default), '*' for all interfaces (engines on other
#  hosts need this). 6.x spellings c.RegistrationFactory.ip / c.HubFactory.ip also work here.
#  Default: '127.0.0.1'
# c.IPController.ip = '127.0.0.1'

## The address engines and clients should dial when listening on '*'.
#  Default: the host name
# c.IPController.location = ''

## Keep the connection files (and key) across restarts (6.x: c.IPControllerApp.reuse_files).
#  Default: False
# c.IPController.reuse_files = False

## Port pool, e.g. '10101-10120'.
#  Default: [] (random ports)
# c.IPController.ports = []

## Task record store: 'DictDB' (memory), 'SQLiteDB', 'NoDB'.
#  Default: 'DictDB'
# c.IPController.db_class = 'DictDB'

## SSH server clients should tunnel through (written to the client file).
#  Default: ''
# c.IPController.ssh_server = ''

## CurveZMQ encryption and authentication on every port (also $IPP_ENABLE_CURVE=1). The public
#  key goes into both connection files as curve_serverkey; engines and clients (ipyparallel 7+)
#  use it. Without an explicit c.Session.key, HMAC signing is then off, as in ipyparallel.
#  Default: False
# c.IPController.enable_curve = False

## The controller's CurveZMQ key pair, Z85 text (also $IPP_CURVE_PUBLICKEY /
#  $IPP_CURVE_SECRETKEY). Empty: a new pair, kept in security/ipcontroller-curve.json (0600)
#  for --reuse / --restore.
#  Default: ''
# c.IPController.curve_publickey = ''
# c.IPController.curve_secretkey = ''

#------------------------------------------------------------------------------
# HeartMonitor / TaskScheduler configuration
#------------------------------------------------------------------------------
## Heartbeat period in ms.
#  Default: 3000
# c.HeartMonitor.period = 3000

## Task scheduling scheme: leastload, lru, plainrandom, weighted, twobin, pure.
#  Default: 'leastload'
# c.TaskScheduler.scheme_name = 'leastload'

## Outstanding tasks per engine (0 = unlimited).
#  Default: 1
# c.TaskScheduler.hwm = 1
