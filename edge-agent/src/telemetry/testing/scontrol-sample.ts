// `scontrol show job -d -o` as printed by Slurm 22.05 (the harness cluster: nodes gpu-0 and gpu-1 with four
// a100 GPUs each), trimmed of fields the parsers do not read. Jobs: 1 two GPUs on gpu-0; 2 one typed GPU on
// gpu-0; 3 one GPU on each node; 4 no GPU; 6 array task 5_0 (two GPUs on gpu-1); 5 array task 5_1 pending.
export const SCONTROL_JOBS = [
  'JobId=1 JobName=wrap UserId=root(0) JobState=RUNNING Reason=None Partition=gpu NodeList=gpu-0 BatchHost=gpu-0 NumNodes=1 NumCPUs=1 TRES=cpu=1,mem=100M,node=1,billing=1 JOB_GRES=gpu:a100:2   Nodes=gpu-0 CPU_IDs=0 Mem=100 GRES=gpu:a100:2(IDX:0-1) MinCPUsNode=1 Features=(null) Comment=meridian:job-7f3a:2 Command=(null) TresPerNode=gres:gpu:2 ',
  'JobId=2 JobName=wrap UserId=root(0) JobState=RUNNING Reason=None NodeList=gpu-0 NumNodes=1 JOB_GRES=gpu:a100:1   Nodes=gpu-0 CPU_IDs=1 Mem=100 GRES=gpu:a100:1(IDX:2) MinCPUsNode=1 TresPerNode=gres:gpu:a100:1 ',
  'JobId=3 JobName=wrap UserId=root(0) JobState=RUNNING Reason=None ReqNodeList=(null) ExcNodeList=(null) NodeList=gpu-[0-1] BatchHost=gpu-0 NumNodes=2 NumCPUs=2 JOB_GRES=gpu:a100:2   Nodes=gpu-0 CPU_IDs=2 Mem=100 GRES=gpu:a100:1(IDX:3)   Nodes=gpu-1 CPU_IDs=0 Mem=100 GRES=gpu:a100:1(IDX:0) MinCPUsNode=1 TresPerNode=gres:gpu:1 ',
  'JobId=4 JobName=wrap UserId=root(0) JobState=RUNNING Reason=None NodeList=gpu-1 NumNodes=1 JOB_GRES=(null)   Nodes=gpu-1 CPU_IDs=1 Mem=100 GRES= MinCPUsNode=1 Power= ',
  'JobId=6 ArrayJobId=5 ArrayTaskId=0 JobName=wrap UserId=root(0) JobState=RUNNING Reason=None NodeList=gpu-1 NumNodes=1 JOB_GRES=gpu:a100:2   Nodes=gpu-1 CPU_IDs=2 Mem=100 GRES=gpu:a100:2(IDX:1-2) MinCPUsNode=1 TresPerNode=gres:gpu:2 ',
  'JobId=5 ArrayJobId=5 ArrayTaskId=1 JobName=wrap UserId=root(0) JobState=PENDING Reason=Resources NodeList= NumNodes=1-1 MinCPUsNode=1 TresPerNode=gres:gpu:2 ',
].join('\n');
