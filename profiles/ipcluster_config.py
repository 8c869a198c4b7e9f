# Configuration file for ipcluster.
#
# Read by `ipcluster start|engines|stop|list` (the C++ drop-in and Python ipyparallel 7.1-9.1).
# Every setting is commented out; uncomment what you need. The command line wins over this file:
# `ipcluster start --Class.trait=value`.

c = get_config()  # noqa

#------------------------------------------------------------------------------
# Cluster configuration
#------------------------------------------------------------------------------
## Number of engines to start (ipcluster start -n N). Default: the number of CPUs.
#  For SSH engine sets the C++ ipcluster starts what SSHEngineSetLauncher.engines lists;
#  Python ipyparallel 7+ caps that total at n.
#  Default: None
# c.Cluster.n = None

## Engine launcher: 'local' or 'ssh' (6.x names such as 'SSHEngineSetLauncher' are accepted).
#  Default: 'local'
# c.Cluster.engine_launcher_class = 'local'

## Controller launcher: 'local'.
#  Default: 'local'
# c.Cluster.controller_launcher_class = 'local'

## Interface the controller listens on, passed as --ip= ('*' for all interfaces; needed when
#  engines run on other hosts).
#  Default: ''
# c.Cluster.controller_ip = ''

## Address engines and clients should dial, passed as --location=.
#  Default: ''
# c.Cluster.controller_location = ''

## Extra controller arguments (also: ipcluster start -- --ping=250).
#  Default: []
# c.Cluster.controller_args = []

## Seconds to wait after the controller is ready before starting engines.
#  Default: 1.0
# c.Cluster.delay = 1.0

#------------------------------------------------------------------------------
# IPClusterStart / IPClusterEngines configuration
#------------------------------------------------------------------------------
## Detach from the terminal (ipcluster start --daemonize). Logs go to log/ipcluster-*.log.
#  Default: False
# c.IPClusterStart.daemonize = False

## If every engine stops within this many seconds, the cluster is torn down.
#  Default: 30
# c.IPClusterEngines.early_shutdown = 30

#------------------------------------------------------------------------------
# Launchers
#------------------------------------------------------------------------------
## The controller command. Default: the ipcontroller next to ipcluster.
# c.ControllerLauncher.controller_cmd = ['ipcontroller']

## Arguments appended to the controller command, e.g. ['--ip=*'].
#  Default: []
# c.ControllerLauncher.controller_args = []

## The local engine command. Default: the ipengine next to ipcluster, else
#  ['/usr/bin/python3', '-m', 'ipyparallel.engine'].
# c.EngineLauncher.engine_cmd = ['ipengine']

## Arguments appended to each engine command.
#  Default: []
# c.EngineLauncher.engine_args = []

## Seconds between successive local engines.
#  Default: 0.1
# c.LocalEngineSetLauncher.delay = 0.1

## Extra environment variables for launched processes.
#  Default: {}
# c.BaseLauncher.environment = {}

#------------------------------------------------------------------------------
# SSH engines (c.Cluster.engine_launcher_class = 'ssh')
#------------------------------------------------------------------------------
## Hosts and engine counts. Keys: 'host', 'user@host', 'host:port'. Values: a count,
#  (n, ['--engine-arg']) or {'n': n, 'engine_args': [...], 'engine_cmd': [...]}.
#  ~/.ssh/config, the ssh agent and the default keys are used; host keys must be in
#  ~/.ssh/known_hosts.
#  Default: {}
# c.SSHEngineSetLauncher.engines = {'host1': 3, 'host2': 3}

## Command that starts an engine on the remote hosts (found on the remote PATH).
#  Default: ['ipengine']
# c.SSHLauncher.remote_engine_cmd = ['ipengine']

## Profile directory on the remote hosts. Default: the local one relative to $HOME.
#  Default: ''
# c.SSHLauncher.remote_profile_dir = ''

## Verify remote host keys against ~/.ssh/known_hosts. Turn off only on trusted networks.
#  Default: True
# c.SSHLauncher.strict_host_key_checking = True

## An extra private key to offer, besides the agent and ~/.ssh/id_*.
#  Default: ''
# c.SSHLauncher.identity_file = ''

## SSH connect timeout in seconds.
#  Default: 10
# c.SSHLauncher.ssh_timeout = 10

#------------------------------------------------------------------------------
# MPI (c.Cluster.engine_launcher_class = 'mpi'; see docs/hpc.md)
#------------------------------------------------------------------------------
## The mpiexec command and its arguments: engines run as `mpiexec -n N mpi_args ipengine --mpi`.
#  Default: ['mpiexec'], []
# c.MPILauncher.mpi_cmd = ['mpiexec']
# c.MPILauncher.mpi_args = []

#------------------------------------------------------------------------------
# Batch systems (c.Cluster.engine_launcher_class = 'slurm', 'pbs', 'sge', 'lsf',
# 'htcondor' or 'batch'; the same traits for <System>ControllerLauncher; see docs/hpc.md)
#------------------------------------------------------------------------------
## The queue (Slurm: partition), and for Slurm the account, QoS and time limit. Without a
#  template of your own they are inserted into the default script as Python does.
#  Default: ''
# c.SlurmLauncher.queue = ''
# c.SlurmLauncher.account = ''
# c.SlurmLauncher.qos = ''
# c.SlurmLauncher.timelimit = ''

## A template of your own ({n}, {queue}, {program_and_args}, {profile_dir}, {cluster_id},
#  {output_file}, and the keys of `namespace`; expressions such as {n//4} work).
#  Default: ''
# c.SlurmEngineSetLauncher.batch_template = ''
# c.SlurmEngineSetLauncher.batch_template_file = ''
# c.SlurmEngineSetLauncher.namespace = {}

## Split the engines over jobs of at most this many, so that they start as nodes free up.
#  Default: 0 (one job)
# c.SlurmEngineSetLauncher.engines_per_job = 0

## Commands (defaults per system: sbatch/scancel, qsub/qdel, bsub/bkill, condor_submit/condor_rm)
#  and how the job's state is watched ('{job_id}' is replaced by the id, else appended).
# c.SlurmLauncher.submit_command = ['sbatch']
# c.SlurmLauncher.delete_command = ['scancel']
# c.SlurmLauncher.status_command = ['scontrol', 'show', 'job', '-o']
