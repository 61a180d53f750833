/*
 * Meridian's fake NVML: a shared library that exports exactly the NVML symbols the native collector
 * resolves (see ../csrc/nvml_api.h), with device values and XID/ECC events scripted from the file
 * named by $MERIDIAN_FAKE_NVML_SCRIPT. The file is re-read whenever it changes (inode, size or
 * mtime), so a test can change GPU health while the collector runs. Format: see ../../docs/native.md
 * and ./example.script. Build: make -C native/fake-nvml (or cc -shared -fPIC -o libnvidia-ml.so.1 fake_nvml.c -lpthread).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../csrc/nvml_api.h"

#define MAX_GPUS 64
#define MAX_EVENTS 4096
#define VAL_LEN 128

enum key_id {
  K_UUID, K_NAME, K_BUS, K_MEM_TOTAL, K_MEM_USED, K_UTIL, K_MEM_UTIL, K_TEMP, K_MEM_TEMP, K_POWER, K_ENERGY,
  K_SM_CLOCK, K_MEM_CLOCK, K_GRAPHICS_CLOCK, K_VIDEO_CLOCK, K_CLOCKS_EVENT_REASONS, K_ECC_SBE_VOLATILE,
  K_ECC_DBE_VOLATILE, K_ECC_SBE_AGGREGATE, K_ECC_DBE_AGGREGATE, K_RETIRED_SBE, K_RETIRED_DBE, K_RETIRED_PENDING,
  K_REMAP_CORRECTABLE, K_REMAP_UNCORRECTABLE, K_REMAP_PENDING, K_REMAP_FAILURE, K_PCIE_REPLAY, K_NVLINKS,
  K_NVLINK_DOWN, K_NVLINK_REPLAY, K_NVLINK_RECOVERY, K_NVLINK_CRC_FLIT, K_NVLINK_CRC_DATA, K_RECOVERY_ACTION,
  K_LOST, K_RESET_REQUIRED, K_UNSUPPORTED, K_SLOW_MS, K_COUNT
};

static const char *const KEY_NAMES[K_COUNT] = {
  "uuid", "name", "bus", "mem_total", "mem_used", "util", "mem_util", "temp", "mem_temp", "power", "energy",
  "sm_clock", "mem_clock", "graphics_clock", "video_clock", "clocks_event_reasons", "ecc_sbe_volatile",
  "ecc_dbe_volatile", "ecc_sbe_aggregate", "ecc_dbe_aggregate", "retired_sbe", "retired_dbe", "retired_pending",
  "remap_correctable", "remap_uncorrectable", "remap_pending", "remap_failure", "pcie_replay", "nvlinks",
  "nvlink_down", "nvlink_replay", "nvlink_recovery", "nvlink_crc_flit", "nvlink_crc_data", "recovery_action",
  "lost", "reset_required", "unsupported", "slow_ms",
};

/* Keys whose value is free text or a comma list rather than one unsigned integer. */
static int key_is_text(int k) {
  return k == K_UUID || k == K_NAME || k == K_BUS || k == K_UNSUPPORTED || k == K_NVLINK_DOWN ||
         k == K_NVLINK_REPLAY || k == K_NVLINK_RECOVERY || k == K_NVLINK_CRC_FLIT || k == K_NVLINK_CRC_DATA;
}

/* Metric groups that `unsupported=` can switch off (the call returns NVML_ERROR_NOT_SUPPORTED). */
static const char *const GROUPS[] = {"memory", "utilization", "temperature", "memory_temp", "power", "energy",
                                     "clocks", "clocks_event_reasons", "ecc", "retired_pages", "remapped_rows",
                                     "pcie_replay", "nvlink", "recovery_action", "events", NULL};

struct fake_gpu {
  int present;
  int has[K_COUNT];
  char val[K_COUNT][VAL_LEN];
};

struct fake_event {
  long long id;
  unsigned int gpu;
  unsigned long long type;
  unsigned long long data;
};

struct fake_state {
  int ok;
  char error[512];
  char driver[VAL_LEN];
  char nvml[VAL_LEN];
  int init_error;
  unsigned int ngpus;
  struct fake_gpu gpus[MAX_GPUS];
  unsigned int nevents;
  struct fake_event events[MAX_EVENTS];
};

struct nvmlDevice_st {
  unsigned int index;
};

struct nvmlEventSet_st {
  unsigned long long mask[MAX_GPUS];
  long long last_id;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct fake_state *cur; /* guarded by mu */
static int init_count;         /* guarded by mu */
static char loaded_path[4096];
static struct stat loaded_stat;
static char last_error[600];
static struct nvmlDevice_st handles[MAX_GPUS];

static void set_error(struct fake_state *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->error, sizeof s->error, fmt, ap);
  va_end(ap);
  s->ok = 0;
}

static int parse_ull(const char *s, unsigned long long *out) {
  char *end;
  if (*s == '\0' || *s == '-') return 0;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end != '\0') return 0;
  *out = v;
  return 1;
}

static int parse_list(const char *s) {
  /* comma list of unsigned integers, may be empty */
  char buf[VAL_LEN];
  snprintf(buf, sizeof buf, "%s", s);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    unsigned long long v;
    if (!parse_ull(t, &v)) return 0;
  }
  return 1;
}

/* Splits the next token: bare word, key=value, key="quoted value". Returns 0 at end of line. */
static int next_token(char **p, char *tok, size_t cap) {
  char *s = *p;
  while (*s && isspace((unsigned char)*s)) s++;
  if (!*s || *s == '#') return 0;
  size_t n = 0;
  while (*s && !isspace((unsigned char)*s)) {
    if (*s == '"') {
      s++;
      while (*s && *s != '"') {
        if (n + 1 < cap) tok[n++] = *s;
        s++;
      }
      if (*s == '"') s++;
      continue;
    }
    if (n + 1 < cap) tok[n++] = *s;
    s++;
  }
  tok[n] = '\0';
  *p = s;
  return 1;
}

static int find_key(const char *k) {
  for (int i = 0; i < K_COUNT; i++)
    if (strcmp(KEY_NAMES[i], k) == 0) return i;
  return -1;
}

static int parse_gpu_line(struct fake_state *s, char *rest, const char *where) {
  char tok[VAL_LEN * 2];
  unsigned long long idx;
  if (!next_token(&rest, tok, sizeof tok) || !parse_ull(tok, &idx)) {
    set_error(s, "%s: 'gpu' needs an index, e.g. 'gpu 0 uuid=GPU-... name=\"NVIDIA H100\"'", where);
    return 0;
  }
  if (idx >= MAX_GPUS) {
    set_error(s, "%s: gpu index %llu is out of range (0..%d)", where, idx, MAX_GPUS - 1);
    return 0;
  }
  struct fake_gpu *g = &s->gpus[idx];
  if (g->present) {
    set_error(s, "%s: gpu %llu is defined twice", where, idx);
    return 0;
  }
  g->present = 1;
  while (next_token(&rest, tok, sizeof tok)) {
    char *eq = strchr(tok, '=');
    if (!eq) {
      set_error(s, "%s: expected key=value, got '%s'", where, tok);
      return 0;
    }
    *eq = '\0';
    const char *v = eq + 1;
    int k = find_key(tok);
    if (k < 0) {
      char known[1024] = "";
      for (int i = 0; i < K_COUNT; i++) {
        strcat(known, KEY_NAMES[i]);
        if (i + 1 < K_COUNT) strcat(known, ", ");
      }
      set_error(s, "%s: unknown gpu key '%s' (known keys: %s)", where, tok, known);
      return 0;
    }
    unsigned long long num;
    if (!key_is_text(k) && !parse_ull(v, &num)) {
      set_error(s, "%s: gpu key '%s' needs a non-negative integer, got '%s'", where, tok, v);
      return 0;
    }
    if ((k == K_NVLINK_DOWN || k == K_NVLINK_REPLAY || k == K_NVLINK_RECOVERY || k == K_NVLINK_CRC_FLIT ||
         k == K_NVLINK_CRC_DATA) &&
        !parse_list(v)) {
      set_error(s, "%s: gpu key '%s' needs a comma list of non-negative integers, got '%s'", where, tok, v);
      return 0;
    }
    if (k == K_UNSUPPORTED) {
      char buf[VAL_LEN];
      snprintf(buf, sizeof buf, "%s", v);
      char *save = NULL;
      for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; GROUPS[i]; i++)
          if (strcmp(GROUPS[i], t) == 0) found = 1;
        if (!found) {
          set_error(s, "%s: unsupported=%s names unknown group '%s' (groups: memory, utilization, temperature, "
                       "memory_temp, power, energy, clocks, clocks_event_reasons, ecc, retired_pages, remapped_rows, "
                       "pcie_replay, nvlink, recovery_action, events)",
                    where, v, t);
          return 0;
        }
      }
    }
    g->has[k] = 1;
    snprintf(g->val[k], VAL_LEN, "%s", v);
  }
  return 1;
}

static int parse_event_line(struct fake_state *s, char *rest, const char *where) {
  char tok[VAL_LEN];
  unsigned long long id;
  if (!next_token(&rest, tok, sizeof tok) || !parse_ull(tok, &id) || id == 0) {
    set_error(s, "%s: 'event' needs a positive id, e.g. 'event 1 gpu=2 xid=79'", where);
    return 0;
  }
  if (s->nevents >= MAX_EVENTS) {
    set_error(s, "%s: too many events (max %d)", where, MAX_EVENTS);
    return 0;
  }
  struct fake_event *e = &s->events[s->nevents];
  int have_gpu = 0, have_kind = 0;
  e->id = (long long)id;
  while (next_token(&rest, tok, sizeof tok)) {
    char *eq = strchr(tok, '=');
    if (!eq) {
      set_error(s, "%s: expected key=value, got '%s'", where, tok);
      return 0;
    }
    *eq = '\0';
    const char *v = eq + 1;
    unsigned long long num;
    if (strcmp(tok, "gpu") == 0) {
      if (!parse_ull(v, &num) || num >= MAX_GPUS) {
        set_error(s, "%s: event gpu must be a GPU index, got '%s'", where, v);
        return 0;
      }
      e->gpu = (unsigned int)num;
      have_gpu = 1;
    } else if (strcmp(tok, "xid") == 0) {
      if (!parse_ull(v, &num)) {
        set_error(s, "%s: event xid must be a non-negative integer, got '%s'", where, v);
        return 0;
      }
      e->type = NVML_EVENT_TYPE_XID_CRITICAL_ERROR;
      e->data = num;
      have_kind = 1;
    } else if (strcmp(tok, "ecc") == 0) {
      if (strcmp(v, "sbe") == 0) e->type = NVML_EVENT_TYPE_SINGLE_BIT_ECC;
      else if (strcmp(v, "dbe") == 0) e->type = NVML_EVENT_TYPE_DOUBLE_BIT_ECC;
      else {
        set_error(s, "%s: event ecc must be 'sbe' or 'dbe', got '%s'", where, v);
        return 0;
      }
      e->data = 0;
      have_kind = 1;
    } else {
      set_error(s, "%s: unknown event key '%s' (known: gpu, xid, ecc)", where, tok);
      return 0;
    }
  }
  if (!have_gpu || !have_kind) {
    set_error(s, "%s: an event needs gpu=<index> and one of xid=<code> or ecc=sbe|dbe", where);
    return 0;
  }
  for (unsigned int i = 0; i < s->nevents; i++)
    if (s->events[i].id == e->id) {
      set_error(s, "%s: event id %llu is used twice", where, id);
      return 0;
    }
  s->nevents++;
  return 1;
}

/* Parses the script at path into a fresh state; on error the state has ok=0 and a message. */
static struct fake_state *parse_script(const char *path) {
  struct fake_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->ok = 1;
  snprintf(s->driver, sizeof s->driver, "550.54.15");
  snprintf(s->nvml, sizeof s->nvml, "12.550.54.15");
  FILE *f = fopen(path, "r");
  if (!f) {
    set_error(s, "cannot read script %s: %s", path, strerror(errno));
    return s;
  }
  char line[4096], where[4200], tok[VAL_LEN];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    snprintf(where, sizeof where, "%s line %d", path, lineno);
    char *p = line;
    if (!next_token(&p, tok, sizeof tok)) continue;
    if (strcmp(tok, "gpu") == 0) {
      if (!parse_gpu_line(s, p, where)) break;
    } else if (strcmp(tok, "event") == 0) {
      if (!parse_event_line(s, p, where)) break;
    } else if (strcmp(tok, "driver") == 0 || strcmp(tok, "nvml") == 0) {
      char v[VAL_LEN];
      if (!next_token(&p, v, sizeof v)) {
        set_error(s, "%s: '%s' needs a version string", where, tok);
        break;
      }
      snprintf(strcmp(tok, "driver") == 0 ? s->driver : s->nvml, VAL_LEN, "%s", v);
    } else if (strcmp(tok, "init_error") == 0) {
      char v[VAL_LEN];
      unsigned long long code;
      if (!next_token(&p, v, sizeof v) || !parse_ull(v, &code) || code == 0) {
        set_error(s, "%s: 'init_error' needs a non-zero NVML return code, e.g. 'init_error 9'", where);
        break;
      }
      s->init_error = (int)code;
    } else {
      set_error(s, "%s: unknown directive '%s' (expected gpu, event, driver, nvml or init_error)", where, tok);
      break;
    }
  }
  fclose(f);
  if (s->ok) {
    unsigned int n = 0;
    while (n < MAX_GPUS && s->gpus[n].present) n++;
    for (unsigned int i = n; i < MAX_GPUS; i++)
      if (s->gpus[i].present) {
        set_error(s, "%s: gpu %u is defined but gpu %u is missing: indices must run 0..N-1", path, i, n);
        return s;
      }
    s->ngpus = n;
    for (unsigned int i = 0; i < s->nevents; i++)
      if (s->events[i].gpu >= n) {
        set_error(s, "%s: event %lld names gpu %u but the script defines %u GPU(s)", path, s->events[i].id,
                  s->events[i].gpu, n);
        return s;
      }
  }
  return s;
}

/* Re-reads the script if it changed. Caller holds mu. Returns the current state (never NULL unless OOM). */
static struct fake_state *refresh(void) {
  const char *path = getenv("MERIDIAN_FAKE_NVML_SCRIPT");
  if (!path || !*path) {
    if (!cur || loaded_path[0] != '\0' || cur->ok) {
      free(cur);
      cur = calloc(1, sizeof *cur);
      if (cur) set_error(cur, "MERIDIAN_FAKE_NVML_SCRIPT is not set: point it at a fake NVML script file");
      loaded_path[0] = '\0';
    }
  } else {
    struct stat st;
    int have = stat(path, &st) == 0;
    int changed = !cur || strcmp(path, loaded_path) != 0 || !have || st.st_ino != loaded_stat.st_ino ||
                  st.st_size != loaded_stat.st_size || st.st_mtim.tv_sec != loaded_stat.st_mtim.tv_sec ||
                  st.st_mtim.tv_nsec != loaded_stat.st_mtim.tv_nsec;
    if (changed) {
      struct fake_state *next = parse_script(path);
      if (next) {
        free(cur);
        cur = next;
        snprintf(loaded_path, sizeof loaded_path, "%s", path);
        if (have) loaded_stat = st;
        else memset(&loaded_stat, 0, sizeof loaded_stat);
      }
    }
  }
  if (cur && !cur->ok) snprintf(last_error, sizeof last_error, "fake NVML: %s", cur->error);
  else last_error[0] = '\0';
  return cur;
}

static unsigned long long num(const struct fake_gpu *g, int k, unsigned long long dflt);

/* slow_ms=<n>: every metric call on that GPU takes n ms longer, like a GPU that is failing. */
static void maybe_slow(nvmlDevice_t dev, const char *group) {
  unsigned long long ms = 0;
  if (!group) return;
  pthread_mutex_lock(&mu);
  struct fake_state *s = refresh();
  if (s && s->ok && dev >= handles && dev < handles + MAX_GPUS && dev->index < s->ngpus)
    ms = num(&s->gpus[dev->index], K_SLOW_MS, 0);
  pthread_mutex_unlock(&mu);
  if (ms) {
    struct timespec nap = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&nap, NULL);
  }
}

/* Common prologue for device calls: lock, refresh, check init and handle. */
#define DEVICE_CALL(dev, gpu_var, group)                                    \
  maybe_slow(dev, group);                                                   \
  pthread_mutex_lock(&mu);                                                  \
  struct fake_state *s = refresh();                                         \
  nvmlReturn_t rc_ = check(s, dev, group);                                  \
  if (rc_ != NVML_SUCCESS) {                                                \
    pthread_mutex_unlock(&mu);                                              \
    return rc_;                                                             \
  }                                                                         \
  struct fake_gpu *gpu_var = &s->gpus[dev->index];                          \
  (void)gpu_var;

#define RETURN(rc)              \
  do {                          \
    pthread_mutex_unlock(&mu);  \
    return (rc);                \
  } while (0)

static int unsupported(const struct fake_gpu *g, const char *group) {
  if (!group || !g->has[K_UNSUPPORTED]) return 0;
  char buf[VAL_LEN];
  snprintf(buf, sizeof buf, "%s", g->val[K_UNSUPPORTED]);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
    if (strcmp(t, group) == 0) return 1;
  return 0;
}

/* group NULL: identity calls (name, UUID, PCI) that keep answering for a lost GPU, as NVML's cached data does. */
static nvmlReturn_t check(struct fake_state *s, nvmlDevice_t dev, const char *group) {
  if (!s) return NVML_ERROR_MEMORY;
  if (init_count <= 0) return NVML_ERROR_UNINITIALIZED;
  if (!s->ok) return NVML_ERROR_UNKNOWN;
  if (!dev || dev < handles || dev >= handles + MAX_GPUS || dev->index >= s->ngpus) return NVML_ERROR_INVALID_ARGUMENT;
  struct fake_gpu *g = &s->gpus[dev->index];
  if (group) {
    unsigned long long v;
    if (g->has[K_LOST] && parse_ull(g->val[K_LOST], &v) && v) return NVML_ERROR_GPU_IS_LOST;
    if (g->has[K_RESET_REQUIRED] && parse_ull(g->val[K_RESET_REQUIRED], &v) && v) return NVML_ERROR_RESET_REQUIRED;
    if (unsupported(g, group)) return NVML_ERROR_NOT_SUPPORTED;
  }
  return NVML_SUCCESS;
}

static unsigned long long num(const struct fake_gpu *g, int k, unsigned long long dflt) {
  unsigned long long v;
  if (g->has[k] && parse_ull(g->val[k], &v)) return v;
  return dflt;
}

/* i-th element of a comma list (the last one repeats); dflt when absent. */
static unsigned long long list_at(const struct fake_gpu *g, int k, unsigned int i, unsigned long long dflt) {
  if (!g->has[k]) return dflt;
  char buf[VAL_LEN];
  snprintf(buf, sizeof buf, "%s", g->val[k]);
  char *save = NULL;
  unsigned long long last = dflt, v;
  unsigned int n = 0;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), n++) {
    if (parse_ull(t, &v)) last = v;
    if (n == i) return last;
  }
  return last;
}

static int list_contains(const struct fake_gpu *g, int k, unsigned long long want) {
  if (!g->has[k]) return 0;
  char buf[VAL_LEN];
  snprintf(buf, sizeof buf, "%s", g->val[k]);
  char *save = NULL;
  unsigned long long v;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
    if (parse_ull(t, &v) && v == want) return 1;
  return 0;
}

static nvmlReturn_t copy_str(char *dst, unsigned int len, const char *src) {
  if (!dst) return NVML_ERROR_INVALID_ARGUMENT;
  if (strlen(src) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(dst, src, strlen(src) + 1);
  return NVML_SUCCESS;
}

#define EXPORT __attribute__((visibility("default")))

EXPORT const char *meridianFakeNvmlLastError(void) { return last_error; }

EXPORT const char *nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires reset";
    default: return "Unknown Error";
  }
}

EXPORT nvmlReturn_t nvmlInit_v2(void) {
  pthread_mutex_lock(&mu);
  struct fake_state *s = refresh();
  if (!s) RETURN(NVML_ERROR_MEMORY);
  if (!s->ok) RETURN(NVML_ERROR_UNKNOWN);
  if (s->init_error) RETURN(s->init_error);
  init_count++;
  for (unsigned int i = 0; i < MAX_GPUS; i++) handles[i].index = i;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlShutdown(void) {
  pthread_mutex_lock(&mu);
  if (init_count <= 0) RETURN(NVML_ERROR_UNINITIALIZED);
  init_count--;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  pthread_mutex_lock(&mu);
  struct fake_state *s = refresh();
  if (init_count <= 0) RETURN(NVML_ERROR_UNINITIALIZED);
  if (!s || !s->ok) RETURN(NVML_ERROR_UNKNOWN);
  RETURN(copy_str(version, length, s->driver));
}

EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
  pthread_mutex_lock(&mu);
  struct fake_state *s = refresh();
  if (init_count <= 0) RETURN(NVML_ERROR_UNINITIALIZED);
  if (!s || !s->ok) RETURN(NVML_ERROR_UNKNOWN);
  RETURN(copy_str(version, length, s->nvml));
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
  pthread_mutex_lock(&mu);
  struct fake_state *s = refresh();
  if (init_count <= 0) RETURN(NVML_ERROR_UNINITIALIZED);
  if (!s || !s->ok) RETURN(NVML_ERROR_UNKNOWN);
  if (!count) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *count = s->ngpus;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  pthread_mutex_lock(&mu);
  struct fake_state *s = refresh();
  if (init_count <= 0) RETURN(NVML_ERROR_UNINITIALIZED);
  if (!s || !s->ok) RETURN(NVML_ERROR_UNKNOWN);
  if (!device || index >= s->ngpus) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *device = &handles[index];
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
  DEVICE_CALL(device, g, NULL);
  RETURN(copy_str(name, length, g->has[K_NAME] ? g->val[K_NAME] : "Fake NVIDIA GPU"));
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
  DEVICE_CALL(device, g, NULL);
  char dflt[64];
  snprintf(dflt, sizeof dflt, "GPU-00000000-0000-0000-0000-%012u", device->index);
  RETURN(copy_str(uuid, length, g->has[K_UUID] ? g->val[K_UUID] : dflt));
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) {
  DEVICE_CALL(device, g, NULL);
  if (!pci) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  memset(pci, 0, sizeof *pci);
  char dflt[32];
  snprintf(dflt, sizeof dflt, "00000000:%02X:00.0", 0x18 + device->index);
  const char *bus = g->has[K_BUS] ? g->val[K_BUS] : dflt;
  snprintf(pci->busId, sizeof pci->busId, "%s", bus);
  snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%s", strlen(bus) > 4 ? bus + 4 : bus);
  unsigned int dom = 0, b = 0, d = 0;
  if (sscanf(bus, "%x:%x:%x", &dom, &b, &d) == 3) {
    pci->domain = dom;
    pci->bus = b;
    pci->device = d;
  }
  pci->pciDeviceId = 0x233010DE;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *mem) {
  DEVICE_CALL(device, g, "memory");
  if (!mem) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  mem->total = num(g, K_MEM_TOTAL, 85899345920ULL);
  mem->used = num(g, K_MEM_USED, 0);
  mem->free = mem->total > mem->used ? mem->total - mem->used : 0;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *u) {
  DEVICE_CALL(device, g, "utilization");
  if (!u) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  u->gpu = (unsigned int)num(g, K_UTIL, 0);
  u->memory = (unsigned int)num(g, K_MEM_UTIL, 0);
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp) {
  DEVICE_CALL(device, g, "temperature");
  if (!temp || sensor != NVML_TEMPERATURE_GPU) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *temp = (unsigned int)num(g, K_TEMP, 35);
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int count, nvmlFieldValue_t *values) {
  DEVICE_CALL(device, g, NULL);
  if (!values || count <= 0) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  unsigned long long v;
  int lost = g->has[K_LOST] && parse_ull(g->val[K_LOST], &v) && v;
  for (int i = 0; i < count; i++) {
    nvmlFieldValue_t *f = &values[i];
    f->timestamp = (long long)time(NULL) * 1000000LL;
    f->latencyUsec = 0;
    f->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
    if (lost) {
      f->nvmlReturn = NVML_ERROR_GPU_IS_LOST;
    } else if (f->fieldId == NVML_FI_DEV_MEMORY_TEMP) {
      f->nvmlReturn = unsupported(g, "memory_temp") ? NVML_ERROR_NOT_SUPPORTED : NVML_SUCCESS;
      f->value.uiVal = (unsigned int)num(g, K_MEM_TEMP, 40);
    } else if (f->fieldId == NVML_FI_DEV_GET_GPU_RECOVERY_ACTION) {
      f->nvmlReturn = unsupported(g, "recovery_action") ? NVML_ERROR_NOT_SUPPORTED : NVML_SUCCESS;
      f->value.uiVal = (unsigned int)num(g, K_RECOVERY_ACTION, 0);
    } else {
      f->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
    }
  }
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
  DEVICE_CALL(device, g, "power");
  if (!power) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *power = (unsigned int)num(g, K_POWER, 70000);
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy) {
  DEVICE_CALL(device, g, "energy");
  if (!energy) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *energy = num(g, K_ENERGY, 0);
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
  DEVICE_CALL(device, g, "clocks");
  if (!clock) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  switch (type) {
    case NVML_CLOCK_GRAPHICS: *clock = (unsigned int)num(g, K_GRAPHICS_CLOCK, 1410); break;
    case NVML_CLOCK_SM: *clock = (unsigned int)num(g, K_SM_CLOCK, 1410); break;
    case NVML_CLOCK_MEM: *clock = (unsigned int)num(g, K_MEM_CLOCK, 1593); break;
    case NVML_CLOCK_VIDEO: *clock = (unsigned int)num(g, K_VIDEO_CLOCK, 1275); break;
    default: RETURN(NVML_ERROR_INVALID_ARGUMENT);
  }
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *reasons) {
  DEVICE_CALL(device, g, "clocks_event_reasons");
  if (!reasons) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *reasons = num(g, K_CLOCKS_EVENT_REASONS, 0);
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int errorType, int counterType,
                                                unsigned long long *count) {
  DEVICE_CALL(device, g, "ecc");
  if (!count || errorType < 0 || errorType > 1 || counterType < 0 || counterType > 1)
    RETURN(NVML_ERROR_INVALID_ARGUMENT);
  static const int keys[2][2] = {{K_ECC_SBE_VOLATILE, K_ECC_SBE_AGGREGATE}, {K_ECC_DBE_VOLATILE, K_ECC_DBE_AGGREGATE}};
  *count = num(g, keys[errorType][counterType], 0);
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t device, int cause, unsigned int *pageCount,
                                              unsigned long long *addresses) {
  DEVICE_CALL(device, g, "retired_pages");
  if (!pageCount || cause < 0 || cause > 1) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  unsigned int n = (unsigned int)num(g, cause ? K_RETIRED_DBE : K_RETIRED_SBE, 0);
  if (*pageCount < n || !addresses) {
    unsigned int asked = *pageCount;
    *pageCount = n;
    RETURN(asked < n ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS);
  }
  for (unsigned int i = 0; i < n; i++) addresses[i] = 0x1000ULL * (i + 1);
  *pageCount = n;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t device, int *isPending) {
  DEVICE_CALL(device, g, "retired_pages");
  if (!isPending) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *isPending = num(g, K_RETIRED_PENDING, 0) ? 1 : 0;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corrRows, unsigned int *uncRows,
                                              unsigned int *isPending, unsigned int *failureOccurred) {
  DEVICE_CALL(device, g, "remapped_rows");
  if (!corrRows || !uncRows || !isPending || !failureOccurred) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *corrRows = (unsigned int)num(g, K_REMAP_CORRECTABLE, 0);
  *uncRows = (unsigned int)num(g, K_REMAP_UNCORRECTABLE, 0);
  *isPending = num(g, K_REMAP_PENDING, 0) ? 1 : 0;
  *failureOccurred = num(g, K_REMAP_FAILURE, 0) ? 1 : 0;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t device, unsigned int *value) {
  DEVICE_CALL(device, g, "pcie_replay");
  if (!value) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *value = (unsigned int)num(g, K_PCIE_REPLAY, 0);
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link, int *isActive) {
  DEVICE_CALL(device, g, "nvlink");
  if (!isActive) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  unsigned long long links = num(g, K_NVLINKS, 0);
  if (links == 0) RETURN(NVML_ERROR_NOT_SUPPORTED);
  if (link >= links || link >= NVML_NVLINK_MAX_LINKS) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *isActive = list_contains(g, K_NVLINK_DOWN, link) ? 0 : 1;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetNvLinkErrorCounter(nvmlDevice_t device, unsigned int link, int counter,
                                                    unsigned long long *value) {
  DEVICE_CALL(device, g, "nvlink");
  if (!value) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  unsigned long long links = num(g, K_NVLINKS, 0);
  if (links == 0) RETURN(NVML_ERROR_NOT_SUPPORTED);
  if (link >= links) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  int k;
  switch (counter) {
    case NVML_NVLINK_ERROR_DL_REPLAY: k = K_NVLINK_REPLAY; break;
    case NVML_NVLINK_ERROR_DL_RECOVERY: k = K_NVLINK_RECOVERY; break;
    case NVML_NVLINK_ERROR_DL_CRC_FLIT: k = K_NVLINK_CRC_FLIT; break;
    case NVML_NVLINK_ERROR_DL_CRC_DATA: k = K_NVLINK_CRC_DATA; break;
    default: RETURN(NVML_ERROR_INVALID_ARGUMENT);
  }
  *value = list_at(g, k, link, 0);
  RETURN(NVML_SUCCESS);
}

static long long max_event_id(const struct fake_state *s) {
  long long m = 0;
  if (s && s->ok)
    for (unsigned int i = 0; i < s->nevents; i++)
      if (s->events[i].id > m) m = s->events[i].id;
  return m;
}

EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
  pthread_mutex_lock(&mu);
  struct fake_state *s = refresh();
  if (init_count <= 0) RETURN(NVML_ERROR_UNINITIALIZED);
  if (!s || !s->ok) RETURN(NVML_ERROR_UNKNOWN);
  if (!set) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  struct nvmlEventSet_st *es = calloc(1, sizeof *es);
  if (!es) RETURN(NVML_ERROR_MEMORY);
  /* Like NVML, a set only sees events that happen after it exists. */
  es->last_id = max_event_id(s);
  *set = es;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *types) {
  DEVICE_CALL(device, g, "events");
  if (!types) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  *types = NVML_EVENT_TYPE_XID_CRITICAL_ERROR | 0x4ULL /* PState */;
  if (!unsupported(g, "ecc")) *types |= NVML_EVENT_TYPE_SINGLE_BIT_ECC | NVML_EVENT_TYPE_DOUBLE_BIT_ECC;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, nvmlEventSet_t set) {
  DEVICE_CALL(device, g, "events");
  if (!set) RETURN(NVML_ERROR_INVALID_ARGUMENT);
  unsigned long long supported = NVML_EVENT_TYPE_XID_CRITICAL_ERROR | 0x4ULL;
  if (!unsupported(g, "ecc")) supported |= NVML_EVENT_TYPE_SINGLE_BIT_ECC | NVML_EVENT_TYPE_DOUBLE_BIT_ECC;
  if (types & ~supported) RETURN(NVML_ERROR_NOT_SUPPORTED);
  set->mask[device->index] |= types;
  RETURN(NVML_SUCCESS);
}

EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms) {
  if (!set || !data) return NVML_ERROR_INVALID_ARGUMENT;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    pthread_mutex_lock(&mu);
    struct fake_state *s = refresh();
    if (init_count <= 0) RETURN(NVML_ERROR_UNINITIALIZED);
    if (!s || !s->ok) RETURN(NVML_ERROR_UNKNOWN);
    for (;;) {
      /* the lowest event id above what this set has seen */
      const struct fake_event *next = NULL;
      for (unsigned int i = 0; i < s->nevents; i++)
        if (s->events[i].id > set->last_id && (!next || s->events[i].id < next->id)) next = &s->events[i];
      if (!next) break;
      set->last_id = next->id;
      if (set->mask[next->gpu] & next->type) {
        memset(data, 0, sizeof *data);
        data->device = &handles[next->gpu];
        data->eventType = next->type;
        data->eventData = next->data;
        data->gpuInstanceId = 0xFFFFFFFFu;
        data->computeInstanceId = 0xFFFFFFFFu;
        RETURN(NVML_SUCCESS);
      }
    }
    pthread_mutex_unlock(&mu);
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long elapsed = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000LL;
    if (elapsed >= (long long)timeoutms) return NVML_ERROR_TIMEOUT;
    struct timespec nap = {0, 10 * 1000000L};
    nanosleep(&nap, NULL);
  }
}

EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  if (!set) return NVML_ERROR_INVALID_ARGUMENT;
  free(set);
  return NVML_SUCCESS;
}
