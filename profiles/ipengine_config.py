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

## SSH server to tunnel the connection to the controller through.
#  Default: ''
# c.IPEngine.sshserver = ''
