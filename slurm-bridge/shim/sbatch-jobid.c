/*
 * Loaded into Slurm's own sbatch (LD_PRELOAD, set by the Meridian agent for its sbatch calls only) so that a
 * job submitted through Meridian gets the ID Meridian gave it. Slurm 22.05's sbatch has no --jobid option, but
 * slurmctld accepts a requested job ID from root or SlurmUser in the submit request itself: this wraps
 * libslurm's slurm_submit_batch_job and sets job_desc.job_id from MERIDIAN_SLURM_JOB_ID. Without that
 * variable it changes nothing. The variable is read when the library loads (sbatch --export-file replaces the
 * process environment before it submits), and it and LD_PRELOAD are then removed so the job never inherits them. Build: gcc -shared -fPIC -O2 -o libmeridian-sbatch-jobid.so sbatch-jobid.c -ldl
 * (needs slurm/slurm.h: Debian's libslurm-dev).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <slurm/slurm.h>

typedef int (*submit_fn)(job_desc_msg_t *, submit_response_msg_t **);

static char requested[16];

__attribute__((constructor)) static void read_requested_id(void)
{
	const char *id = getenv("MERIDIAN_SLURM_JOB_ID");
	if (id)
		snprintf(requested, sizeof(requested), "%s", id);
	unsetenv("MERIDIAN_SLURM_JOB_ID");
	unsetenv("LD_PRELOAD");
}

int slurm_submit_batch_job(job_desc_msg_t *req, submit_response_msg_t **resp)
{
	submit_fn real = (submit_fn)dlsym(RTLD_NEXT, "slurm_submit_batch_job");
	if (!real) {
		fprintf(stderr, "sbatch: meridian job id: slurm_submit_batch_job not found: %s\n", dlerror());
		errno = ENOSYS;
		return -1;
	}
	const char *id = requested;
	if (*id) {
		char *end = NULL;
		errno = 0;
		unsigned long v = strtoul(id, &end, 10);
		/* Slurm keeps the IDs above 0x03ffffff for federations and its own uses */
		if (errno || !end || *end || v == 0 || v > 0x03ffffffUL) {
			fprintf(stderr, "sbatch: MERIDIAN_SLURM_JOB_ID=%s is not a job id from 1 to 67108863\n", id);
			errno = EINVAL;
			return -1;
		}
		req->job_id = (uint32_t)v;
	}
	return real(req, resp);
}
