// Meridian native collector: NVML (loaded with dlopen at run time) exposed to JavaScript.
//
//   open(libraryPath) -> { available: true, handle, driverVersion, nvmlVersion, libraryPath }
//                      | { available: false, reason }
//   handle.sample(full) -> Promise<DeviceSample[]>   (collected on a libuv worker thread)
//   handle.watch(callback, timeoutMs) -> { stop(): Promise<void> }
//        XID / ECC events from an NVML event set, waited for on a dedicated thread and
//        delivered with a ThreadSafeFunction, so the event loop never blocks.
//   handle.close()
//
// The NVML library stays loaded (and initialised) while anything uses it: the JS handle,
// an in-flight sample or a running watcher each hold a reference.
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <napi.h>

#include "nvml_api.h"

namespace {

const char *ReturnName(nvmlReturn_t r) {
  switch (r) {
    case NVML_SUCCESS: return "NVML_SUCCESS";
    case NVML_ERROR_UNINITIALIZED: return "NVML_ERROR_UNINITIALIZED";
    case NVML_ERROR_INVALID_ARGUMENT: return "NVML_ERROR_INVALID_ARGUMENT";
    case NVML_ERROR_NOT_SUPPORTED: return "NVML_ERROR_NOT_SUPPORTED";
    case NVML_ERROR_NO_PERMISSION: return "NVML_ERROR_NO_PERMISSION";
    case NVML_ERROR_ALREADY_INITIALIZED: return "NVML_ERROR_ALREADY_INITIALIZED";
    case NVML_ERROR_NOT_FOUND: return "NVML_ERROR_NOT_FOUND";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "NVML_ERROR_INSUFFICIENT_SIZE";
    case NVML_ERROR_INSUFFICIENT_POWER: return "NVML_ERROR_INSUFFICIENT_POWER";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "NVML_ERROR_DRIVER_NOT_LOADED";
    case NVML_ERROR_TIMEOUT: return "NVML_ERROR_TIMEOUT";
    case NVML_ERROR_IRQ_ISSUE: return "NVML_ERROR_IRQ_ISSUE";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML_ERROR_LIBRARY_NOT_FOUND";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "NVML_ERROR_FUNCTION_NOT_FOUND";
    case NVML_ERROR_CORRUPTED_INFOROM: return "NVML_ERROR_CORRUPTED_INFOROM";
    case NVML_ERROR_GPU_IS_LOST: return "NVML_ERROR_GPU_IS_LOST";
    case NVML_ERROR_RESET_REQUIRED: return "NVML_ERROR_RESET_REQUIRED";
    case NVML_ERROR_OPERATING_SYSTEM: return "NVML_ERROR_OPERATING_SYSTEM";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "NVML_ERROR_LIB_RM_VERSION_MISMATCH";
    case NVML_ERROR_IN_USE: return "NVML_ERROR_IN_USE";
    case NVML_ERROR_MEMORY: return "NVML_ERROR_MEMORY";
    case NVML_ERROR_NO_DATA: return "NVML_ERROR_NO_DATA";
    default: return "NVML_ERROR_UNKNOWN";
  }
}

// The loaded library: dlopen handle plus every symbol we use (optional ones may be null).
struct NvmlLib {
  void *dl = nullptr;
  std::string path;
  bool initialised = false;
  nvmlInit_v2_fn Init = nullptr;
  nvmlShutdown_fn Shutdown = nullptr;
  nvmlSystemGetDriverVersion_fn SystemGetDriverVersion = nullptr;
  nvmlSystemGetNVMLVersion_fn SystemGetNVMLVersion = nullptr;
  nvmlDeviceGetCount_v2_fn DeviceGetCount = nullptr;
  nvmlDeviceGetHandleByIndex_v2_fn DeviceGetHandleByIndex = nullptr;
  nvmlDeviceGetName_fn DeviceGetName = nullptr;
  nvmlDeviceGetUUID_fn DeviceGetUUID = nullptr;
  nvmlDeviceGetPciInfo_fn DeviceGetPciInfo = nullptr;
  nvmlDeviceGetMemoryInfo_fn DeviceGetMemoryInfo = nullptr;
  nvmlDeviceGetUtilizationRates_fn DeviceGetUtilizationRates = nullptr;
  nvmlDeviceGetTemperature_fn DeviceGetTemperature = nullptr;
  nvmlDeviceGetFieldValues_fn DeviceGetFieldValues = nullptr;
  nvmlDeviceGetPowerUsage_fn DeviceGetPowerUsage = nullptr;
  nvmlDeviceGetTotalEnergyConsumption_fn DeviceGetTotalEnergyConsumption = nullptr;
  nvmlDeviceGetClockInfo_fn DeviceGetClockInfo = nullptr;
  nvmlDeviceGetCurrentClocksEventReasons_fn DeviceGetCurrentClocksEventReasons = nullptr;
  nvmlDeviceGetTotalEccErrors_fn DeviceGetTotalEccErrors = nullptr;
  nvmlDeviceGetRetiredPages_fn DeviceGetRetiredPages = nullptr;
  nvmlDeviceGetRetiredPagesPendingStatus_fn DeviceGetRetiredPagesPendingStatus = nullptr;
  nvmlDeviceGetRemappedRows_fn DeviceGetRemappedRows = nullptr;
  nvmlDeviceGetPcieReplayCounter_fn DeviceGetPcieReplayCounter = nullptr;
  nvmlDeviceGetNvLinkState_fn DeviceGetNvLinkState = nullptr;
  nvmlDeviceGetNvLinkErrorCounter_fn DeviceGetNvLinkErrorCounter = nullptr;
  nvmlEventSetCreate_fn EventSetCreate = nullptr;
  nvmlDeviceGetSupportedEventTypes_fn DeviceGetSupportedEventTypes = nullptr;
  nvmlDeviceRegisterEvents_fn DeviceRegisterEvents = nullptr;
  nvmlEventSetWait_v2_fn EventSetWait = nullptr;
  nvmlEventSetFree_fn EventSetFree = nullptr;
  meridianFakeNvmlLastError_fn FakeLastError = nullptr;

  ~NvmlLib() {
    if (initialised && Shutdown) Shutdown();
    if (dl) dlclose(dl);
  }

  // "NVML_ERROR_GPU_IS_LOST (15)", plus the fake library's script error when there is one.
  std::string Describe(nvmlReturn_t r) const {
    std::string s = std::string(ReturnName(r)) + " (" + std::to_string(r) + ")";
    if (FakeLastError && r != NVML_ERROR_NOT_SUPPORTED) {
      const char *extra = FakeLastError();
      if (extra && *extra) s += ": " + std::string(extra);
    }
    return s;
  }
};

template <typename T>
void Resolve(void *dl, T &slot, const char *name) {
  slot = reinterpret_cast<T>(dlsym(dl, name));
}

// Loads and initialises NVML. On failure returns null and sets reason.
std::shared_ptr<NvmlLib> LoadNvml(const std::string &path, std::string &reason) {
  dlerror();
  void *dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char *e = dlerror();
    reason = std::string("no NVML: ") + (e ? e : ("cannot load " + path).c_str());
    return nullptr;
  }
  auto lib = std::make_shared<NvmlLib>();
  lib->dl = dl;
  lib->path = path;
  Resolve(dl, lib->Init, "nvmlInit_v2");
  Resolve(dl, lib->Shutdown, "nvmlShutdown");
  Resolve(dl, lib->SystemGetDriverVersion, "nvmlSystemGetDriverVersion");
  Resolve(dl, lib->SystemGetNVMLVersion, "nvmlSystemGetNVMLVersion");
  Resolve(dl, lib->DeviceGetCount, "nvmlDeviceGetCount_v2");
  Resolve(dl, lib->DeviceGetHandleByIndex, "nvmlDeviceGetHandleByIndex_v2");
  Resolve(dl, lib->DeviceGetName, "nvmlDeviceGetName");
  Resolve(dl, lib->DeviceGetUUID, "nvmlDeviceGetUUID");
  Resolve(dl, lib->DeviceGetPciInfo, "nvmlDeviceGetPciInfo_v3");
  if (!lib->DeviceGetPciInfo) Resolve(dl, lib->DeviceGetPciInfo, "nvmlDeviceGetPciInfo_v2");
  Resolve(dl, lib->DeviceGetMemoryInfo, "nvmlDeviceGetMemoryInfo");
  Resolve(dl, lib->DeviceGetUtilizationRates, "nvmlDeviceGetUtilizationRates");
  Resolve(dl, lib->DeviceGetTemperature, "nvmlDeviceGetTemperature");
  Resolve(dl, lib->DeviceGetFieldValues, "nvmlDeviceGetFieldValues");
  Resolve(dl, lib->DeviceGetPowerUsage, "nvmlDeviceGetPowerUsage");
  Resolve(dl, lib->DeviceGetTotalEnergyConsumption, "nvmlDeviceGetTotalEnergyConsumption");
  Resolve(dl, lib->DeviceGetClockInfo, "nvmlDeviceGetClockInfo");
  Resolve(dl, lib->DeviceGetCurrentClocksEventReasons, "nvmlDeviceGetCurrentClocksEventReasons");
  if (!lib->DeviceGetCurrentClocksEventReasons)  // drivers before r535 only have the old name
    Resolve(dl, lib->DeviceGetCurrentClocksEventReasons, "nvmlDeviceGetCurrentClocksThrottleReasons");
  Resolve(dl, lib->DeviceGetTotalEccErrors, "nvmlDeviceGetTotalEccErrors");
  Resolve(dl, lib->DeviceGetRetiredPages, "nvmlDeviceGetRetiredPages");
  Resolve(dl, lib->DeviceGetRetiredPagesPendingStatus, "nvmlDeviceGetRetiredPagesPendingStatus");
  Resolve(dl, lib->DeviceGetRemappedRows, "nvmlDeviceGetRemappedRows");
  Resolve(dl, lib->DeviceGetPcieReplayCounter, "nvmlDeviceGetPcieReplayCounter");
  Resolve(dl, lib->DeviceGetNvLinkState, "nvmlDeviceGetNvLinkState");
  Resolve(dl, lib->DeviceGetNvLinkErrorCounter, "nvmlDeviceGetNvLinkErrorCounter");
  Resolve(dl, lib->EventSetCreate, "nvmlEventSetCreate");
  Resolve(dl, lib->DeviceGetSupportedEventTypes, "nvmlDeviceGetSupportedEventTypes");
  Resolve(dl, lib->DeviceRegisterEvents, "nvmlDeviceRegisterEvents");
  Resolve(dl, lib->EventSetWait, "nvmlEventSetWait_v2");
  Resolve(dl, lib->EventSetFree, "nvmlEventSetFree");
  Resolve(dl, lib->FakeLastError, "meridianFakeNvmlLastError");

  const char *required[] = {"nvmlInit_v2", "nvmlShutdown", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2"};
  const void *have[] = {reinterpret_cast<void *>(lib->Init), reinterpret_cast<void *>(lib->Shutdown),
                        reinterpret_cast<void *>(lib->DeviceGetCount),
                        reinterpret_cast<void *>(lib->DeviceGetHandleByIndex)};
  for (size_t i = 0; i < 4; i++) {
    if (!have[i]) {
      reason = "no NVML: " + path + " does not export " + required[i] + " (not an NVML library, or one too old)";
      return nullptr;
    }
  }
  nvmlReturn_t r = lib->Init();
  if (r != NVML_SUCCESS) {
    reason = "NVML init failed: nvmlInit_v2 returned " + lib->Describe(r);
    return nullptr;
  }
  lib->initialised = true;
  return lib;
}

// ---------------------------------------------------------------------------------------------
// Sampling

struct NvLinkSample {
  unsigned int link = 0;
  bool active = false;
  // replay, recovery, crcFlit, crcData; -1 when that counter could not be read
  double counters[4] = {-1, -1, -1, -1};
};

struct MetricValue {
  std::string key;
  bool ok = false;
  double value = 0;
};

struct DeviceSample {
  unsigned int index = 0;
  std::string uuid, name, pciBusId;
  std::string health = "ok";  // ok | lost | reset_required | error
  std::vector<MetricValue> metrics;
  std::vector<std::string> unsupported;
  std::map<std::string, std::string> errors;
  std::vector<NvLinkSample> nvlinks;
  bool nvlinkSupported = false;
};

class Collector {
 public:
  Collector(const NvmlLib &lib, DeviceSample &out) : lib_(lib), out_(out) {}

  // Records a call's outcome; returns true when the value is good.
  bool Note(const std::string &key, nvmlReturn_t r) {
    if (r == NVML_SUCCESS) return true;
    if (r == NVML_ERROR_NOT_SUPPORTED) {
      out_.unsupported.push_back(key);
      return false;
    }
    // Health: lost / reset_required are what NVML says about the GPU itself. Any other failure marks it
    // "error", except NO_PERMISSION (a container without the capability), which says nothing about the GPU.
    if (r == NVML_ERROR_GPU_IS_LOST) out_.health = "lost";
    else if (r == NVML_ERROR_RESET_REQUIRED && out_.health != "lost") out_.health = "reset_required";
    else if (r != NVML_ERROR_NO_PERMISSION && out_.health == "ok") out_.health = "error";
    out_.errors[key] = lib_.Describe(r);
    return false;
  }
  void Missing(const std::string &key, const char *symbol) {
    out_.errors[key] = std::string("NVML_ERROR_FUNCTION_NOT_FOUND: ") + symbol + " is not exported by " + lib_.path;
  }
  void Put(const std::string &key, bool ok, double v) { out_.metrics.push_back({key, ok, v}); }

 private:
  const NvmlLib &lib_;
  DeviceSample &out_;
};

#define CALL_OR_MISSING(fn, symbol, key) (lib.fn ? true : (c.Missing(key, symbol), false))

void SampleDevice(const NvmlLib &lib, unsigned int index, nvmlDevice_t dev, bool full, DeviceSample &s) {
  Collector c(lib, s);
  s.index = index;
  char buf[256];
  if (CALL_OR_MISSING(DeviceGetUUID, "nvmlDeviceGetUUID", "uuid") &&
      c.Note("uuid", lib.DeviceGetUUID(dev, buf, sizeof buf)))
    s.uuid = buf;
  if (CALL_OR_MISSING(DeviceGetName, "nvmlDeviceGetName", "name") &&
      c.Note("name", lib.DeviceGetName(dev, buf, sizeof buf)))
    s.name = buf;
  nvmlPciInfo_t pci;
  std::memset(&pci, 0, sizeof pci);
  if (CALL_OR_MISSING(DeviceGetPciInfo, "nvmlDeviceGetPciInfo_v3", "pci_bus_id") &&
      c.Note("pci_bus_id", lib.DeviceGetPciInfo(dev, &pci)))
    s.pciBusId = std::string(pci.busId, strnlen(pci.busId, sizeof pci.busId));

  nvmlMemory_t mem;
  bool memOk = CALL_OR_MISSING(DeviceGetMemoryInfo, "nvmlDeviceGetMemoryInfo", "fb") &&
               c.Note("fb", lib.DeviceGetMemoryInfo(dev, &mem));
  c.Put("fb_total_bytes", memOk, memOk ? double(mem.total) : 0);
  c.Put("fb_used_bytes", memOk, memOk ? double(mem.used) : 0);
  c.Put("fb_free_bytes", memOk, memOk ? double(mem.free) : 0);
  if (!full) return;

  nvmlUtilization_t util;
  bool utilOk = CALL_OR_MISSING(DeviceGetUtilizationRates, "nvmlDeviceGetUtilizationRates", "utilization") &&
                c.Note("utilization", lib.DeviceGetUtilizationRates(dev, &util));
  c.Put("gpu_util", utilOk, utilOk ? util.gpu : 0);
  c.Put("mem_copy_util", utilOk, utilOk ? util.memory : 0);

  unsigned int u = 0;
  unsigned long long ull = 0;
  bool ok = CALL_OR_MISSING(DeviceGetTemperature, "nvmlDeviceGetTemperature", "gpu_temp") &&
            c.Note("gpu_temp", lib.DeviceGetTemperature(dev, NVML_TEMPERATURE_GPU, &u));
  c.Put("gpu_temp", ok, u);

  // Field values: memory temperature and the driver's recommended recovery action.
  if (lib.DeviceGetFieldValues) {
    nvmlFieldValue_t fv[2];
    std::memset(fv, 0, sizeof fv);
    fv[0].fieldId = NVML_FI_DEV_MEMORY_TEMP;
    fv[1].fieldId = NVML_FI_DEV_GET_GPU_RECOVERY_ACTION;
    nvmlReturn_t r = lib.DeviceGetFieldValues(dev, 2, fv);
    const char *keys[2] = {"memory_temp", "recovery_action"};
    for (int i = 0; i < 2; i++) {
      nvmlReturn_t ri = r != NVML_SUCCESS ? r : fv[i].nvmlReturn;
      // a driver that predates a field ID answers INVALID_ARGUMENT for it: that is "not supported"
      if (r == NVML_SUCCESS && ri == NVML_ERROR_INVALID_ARGUMENT) ri = NVML_ERROR_NOT_SUPPORTED;
      bool good = c.Note(keys[i], ri);
      double v = 0;
      if (good) {
        switch (fv[i].valueType) {
          case NVML_VALUE_TYPE_DOUBLE: v = fv[i].value.dVal; break;
          case NVML_VALUE_TYPE_UNSIGNED_LONG: v = double(fv[i].value.ulVal); break;
          case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: v = double(fv[i].value.ullVal); break;
          case NVML_VALUE_TYPE_SIGNED_LONG_LONG: v = double(fv[i].value.sllVal); break;
          case NVML_VALUE_TYPE_SIGNED_INT: v = fv[i].value.siVal; break;
          case NVML_VALUE_TYPE_UNSIGNED_SHORT: v = fv[i].value.usVal; break;
          default: v = fv[i].value.uiVal;
        }
      }
      c.Put(keys[i], good, v);
    }
  } else {
    c.Missing("memory_temp", "nvmlDeviceGetFieldValues");
    c.Missing("recovery_action", "nvmlDeviceGetFieldValues");
    c.Put("memory_temp", false, 0);
    c.Put("recovery_action", false, 0);
  }

  u = 0;
  ok = CALL_OR_MISSING(DeviceGetPowerUsage, "nvmlDeviceGetPowerUsage", "power_usage_mw") &&
       c.Note("power_usage_mw", lib.DeviceGetPowerUsage(dev, &u));
  c.Put("power_usage_mw", ok, u);
  ull = 0;
  ok = CALL_OR_MISSING(DeviceGetTotalEnergyConsumption, "nvmlDeviceGetTotalEnergyConsumption", "total_energy_mj") &&
       c.Note("total_energy_mj", lib.DeviceGetTotalEnergyConsumption(dev, &ull));
  c.Put("total_energy_mj", ok, double(ull));

  const struct {
    const char *key;
    int type;
  } clocks[] = {{"sm_clock_mhz", NVML_CLOCK_SM},
                {"mem_clock_mhz", NVML_CLOCK_MEM},
                {"graphics_clock_mhz", NVML_CLOCK_GRAPHICS},
                {"video_clock_mhz", NVML_CLOCK_VIDEO}};
  for (const auto &ck : clocks) {
    u = 0;
    ok = CALL_OR_MISSING(DeviceGetClockInfo, "nvmlDeviceGetClockInfo", ck.key) &&
         c.Note(ck.key, lib.DeviceGetClockInfo(dev, ck.type, &u));
    c.Put(ck.key, ok, u);
  }
  ull = 0;
  ok = CALL_OR_MISSING(DeviceGetCurrentClocksEventReasons, "nvmlDeviceGetCurrentClocksEventReasons",
                       "clocks_event_reasons") &&
       c.Note("clocks_event_reasons", lib.DeviceGetCurrentClocksEventReasons(dev, &ull));
  c.Put("clocks_event_reasons", ok, double(ull));

  const struct {
    const char *key;
    int errorType, counterType;
  } ecc[] = {{"ecc_sbe_volatile_total", NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC},
             {"ecc_dbe_volatile_total", NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC},
             {"ecc_sbe_aggregate_total", NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_AGGREGATE_ECC},
             {"ecc_dbe_aggregate_total", NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_AGGREGATE_ECC}};
  for (const auto &e : ecc) {
    ull = 0;
    ok = CALL_OR_MISSING(DeviceGetTotalEccErrors, "nvmlDeviceGetTotalEccErrors", e.key) &&
         c.Note(e.key, lib.DeviceGetTotalEccErrors(dev, e.errorType, e.counterType, &ull));
    c.Put(e.key, ok, double(ull));
  }

  // Row remapping (Ampere and later) and page retirement (before Ampere).
  unsigned int corr = 0, unc = 0, pending = 0, failure = 0;
  ok = CALL_OR_MISSING(DeviceGetRemappedRows, "nvmlDeviceGetRemappedRows", "remapped_rows") &&
       c.Note("remapped_rows", lib.DeviceGetRemappedRows(dev, &corr, &unc, &pending, &failure));
  c.Put("remapped_rows_correctable", ok, corr);
  c.Put("remapped_rows_uncorrectable", ok, unc);
  c.Put("remapped_rows_pending", ok, pending);
  c.Put("remapped_rows_failure", ok, failure);

  const struct {
    const char *key;
    int cause;
  } retired[] = {{"retired_pages_sbe", NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS},
                 {"retired_pages_dbe", NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR}};
  for (const auto &rp : retired) {
    unsigned int count = 0;
    ok = false;
    if (CALL_OR_MISSING(DeviceGetRetiredPages, "nvmlDeviceGetRetiredPages", rp.key)) {
      nvmlReturn_t r = lib.DeviceGetRetiredPages(dev, rp.cause, &count, nullptr);
      if (r == NVML_ERROR_INSUFFICIENT_SIZE) r = NVML_SUCCESS;  // count query: count is filled in
      ok = c.Note(rp.key, r);
    }
    c.Put(rp.key, ok, count);
  }
  int isPending = 0;
  ok = CALL_OR_MISSING(DeviceGetRetiredPagesPendingStatus, "nvmlDeviceGetRetiredPagesPendingStatus",
                       "retired_pages_pending") &&
       c.Note("retired_pages_pending", lib.DeviceGetRetiredPagesPendingStatus(dev, &isPending));
  c.Put("retired_pages_pending", ok, isPending ? 1 : 0);

  u = 0;
  ok = CALL_OR_MISSING(DeviceGetPcieReplayCounter, "nvmlDeviceGetPcieReplayCounter", "pcie_replay_counter") &&
       c.Note("pcie_replay_counter", lib.DeviceGetPcieReplayCounter(dev, &u));
  c.Put("pcie_replay_counter", ok, u);

  // NVLink: walk links until the driver says the link does not exist.
  double totals[4] = {0, 0, 0, 0};
  bool totalsOk[4] = {false, false, false, false};
  unsigned int activeLinks = 0;
  if (lib.DeviceGetNvLinkState) {
    for (unsigned int link = 0; link < NVML_NVLINK_MAX_LINKS; link++) {
      int active = 0;
      nvmlReturn_t r = lib.DeviceGetNvLinkState(dev, link, &active);
      if (r == NVML_ERROR_INVALID_ARGUMENT || r == NVML_ERROR_NOT_FOUND) break;
      if (r == NVML_ERROR_NOT_SUPPORTED) {
        if (link == 0) c.Note("nvlink", r);
        break;
      }
      if (!c.Note("nvlink", r)) break;
      s.nvlinkSupported = true;
      NvLinkSample ls;
      ls.link = link;
      ls.active = active != 0;
      if (ls.active) activeLinks++;
      const int counters[4] = {NVML_NVLINK_ERROR_DL_REPLAY, NVML_NVLINK_ERROR_DL_RECOVERY,
                               NVML_NVLINK_ERROR_DL_CRC_FLIT, NVML_NVLINK_ERROR_DL_CRC_DATA};
      for (int i = 0; i < 4; i++) {
        unsigned long long v = 0;
        if (lib.DeviceGetNvLinkErrorCounter && lib.DeviceGetNvLinkErrorCounter(dev, link, counters[i], &v) ==
                                                   NVML_SUCCESS) {
          ls.counters[i] = double(v);
          totals[i] += double(v);
          totalsOk[i] = true;
        }
      }
      s.nvlinks.push_back(ls);
    }
  } else {
    c.Missing("nvlink", "nvmlDeviceGetNvLinkState");
  }
  const char *nvKeys[4] = {"nvlink_replay_errors_total", "nvlink_recovery_errors_total",
                           "nvlink_crc_flit_errors_total", "nvlink_crc_data_errors_total"};
  for (int i = 0; i < 4; i++) c.Put(nvKeys[i], totalsOk[i], totals[i]);
  c.Put("nvlink_links_active", s.nvlinkSupported, activeLinks);
}

class SampleWorker : public Napi::AsyncWorker {
 public:
  SampleWorker(Napi::Env env, std::shared_ptr<NvmlLib> lib, bool full)
      : Napi::AsyncWorker(env, "meridian.nvml.sample"), lib_(std::move(lib)), full_(full), deferred_(env) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    unsigned int count = 0;
    nvmlReturn_t r = lib_->DeviceGetCount(&count);
    if (r != NVML_SUCCESS) {
      SetError("nvmlDeviceGetCount_v2 failed: " + lib_->Describe(r));
      return;
    }
    devices_.resize(count);
    for (unsigned int i = 0; i < count; i++) {
      nvmlDevice_t dev = nullptr;
      r = lib_->DeviceGetHandleByIndex(i, &dev);
      if (r != NVML_SUCCESS) {
        DeviceSample &s = devices_[i];
        s.index = i;
        s.health = r == NVML_ERROR_GPU_IS_LOST ? "lost" : r == NVML_ERROR_RESET_REQUIRED ? "reset_required" : "error";
        s.errors["handle"] = "nvmlDeviceGetHandleByIndex_v2 failed: " + lib_->Describe(r);
        continue;
      }
      SampleDevice(*lib_, i, dev, full_, devices_[i]);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, devices_.size());
    for (size_t i = 0; i < devices_.size(); i++) {
      const DeviceSample &d = devices_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("index", d.index);
      o.Set("uuid", d.uuid);
      o.Set("name", d.name);
      o.Set("pciBusId", d.pciBusId);
      o.Set("health", d.health);
      Napi::Object metrics = Napi::Object::New(env);
      for (const auto &m : d.metrics)
        metrics.Set(m.key, m.ok ? Napi::Value(Napi::Number::New(env, m.value)) : env.Null());
      o.Set("metrics", metrics);
      Napi::Array unsupported = Napi::Array::New(env, d.unsupported.size());
      for (size_t j = 0; j < d.unsupported.size(); j++) unsupported.Set(uint32_t(j), d.unsupported[j]);
      o.Set("unsupported", unsupported);
      Napi::Object errors = Napi::Object::New(env);
      for (const auto &e : d.errors) errors.Set(e.first, e.second);
      o.Set("errors", errors);
      if (full_) {
        Napi::Array links = Napi::Array::New(env, d.nvlinks.size());
        const char *names[4] = {"replayErrors", "recoveryErrors", "crcFlitErrors", "crcDataErrors"};
        for (size_t j = 0; j < d.nvlinks.size(); j++) {
          Napi::Object l = Napi::Object::New(env);
          l.Set("link", d.nvlinks[j].link);
          l.Set("active", d.nvlinks[j].active);
          for (int k = 0; k < 4; k++)
            l.Set(names[k], d.nvlinks[j].counters[k] < 0 ? env.Null()
                                                         : Napi::Value(Napi::Number::New(env, d.nvlinks[j].counters[k])));
          links.Set(uint32_t(j), l);
        }
        o.Set("nvlinks", links);
      }
      out.Set(uint32_t(i), o);
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  std::shared_ptr<NvmlLib> lib_;
  bool full_;
  Napi::Promise::Deferred deferred_;
  std::vector<DeviceSample> devices_;
};

// ---------------------------------------------------------------------------------------------
// Event watching

struct PendingEvent {
  std::string kind;  // xid | ecc_sbe | ecc_dbe | other | error
  int gpu = -1;
  std::string uuid;
  double eventType = 0;
  double data = 0;
  double timestamp = 0;
  std::string message;
};

double NowMs() {
  return double(std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
}

struct WatchState {
  std::shared_ptr<NvmlLib> lib;
  nvmlEventSet_t set = nullptr;
  std::vector<nvmlDevice_t> devices;
  std::vector<std::string> uuids;
  unsigned int timeoutMs = 500;
  std::atomic<bool> stopRequested{false};
  std::thread thread;
  Napi::ThreadSafeFunction tsfn;
  bool finished = false;  // main thread only: the thread is joined and the set freed
  bool hookRegistered = false;
  // Raw handles rather than Napi::Promise::Deferred: the finalizer may run during environment teardown, where
  // resolving fails and node-addon-api would throw a C++ exception nobody can catch (std::terminate).
  std::vector<napi_deferred> stopWaiters;  // main thread only
  napi_env env = nullptr;

  void JoinAndFree() {
    stopRequested = true;
    if (thread.joinable()) thread.join();
    if (set && lib->EventSetFree) lib->EventSetFree(set);
    set = nullptr;
  }
};

void WatchCleanupHook(void *arg) {
  // Environment teardown (process exit, worker exit): stop the thread before the runtime goes away.
  auto *state = static_cast<WatchState *>(arg);
  state->hookRegistered = false;
  state->JoinAndFree();
}

void BuildAndCall(Napi::Env env, Napi::Function callback, const PendingEvent &ev) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", ev.kind);
  o.Set("gpu", ev.gpu);
  o.Set("uuid", ev.uuid);
  o.Set("eventType", ev.eventType);
  if (ev.kind == "xid") o.Set("xid", ev.data);
  o.Set("data", ev.data);
  o.Set("timestamp", ev.timestamp);
  if (!ev.message.empty()) o.Set("message", ev.message);
  callback.Call({o});
}

void DeliverEvent(Napi::Env env, Napi::Function callback, PendingEvent *ev) {
  std::unique_ptr<PendingEvent> owned(ev);
  if (env == nullptr || callback.IsEmpty()) return;
  // Called from libuv with no C++ frame above to catch in: an exception escaping here is std::terminate. The
  // JS wrapper already catches the user's callback, so what lands here is a terminating environment (worker
  // terminate(), process.exit() inside a callback): nothing left to report to.
  try {
    BuildAndCall(env, callback, *ev);
  } catch (const Napi::Error &) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

void WatchLoop(WatchState *state) {
  unsigned int consecutiveErrors = 0;
  while (!state->stopRequested.load()) {
    nvmlEventData_t data;
    std::memset(&data, 0, sizeof data);
    nvmlReturn_t r = state->lib->EventSetWait(state->set, &data, state->timeoutMs);
    if (state->stopRequested.load()) break;
    if (r == NVML_ERROR_TIMEOUT) {
      consecutiveErrors = 0;
      continue;
    }
    auto *ev = new PendingEvent();
    ev->timestamp = NowMs();
    if (r == NVML_SUCCESS) {
      consecutiveErrors = 0;
      for (size_t i = 0; i < state->devices.size(); i++) {
        if (state->devices[i] == data.device) {
          ev->gpu = int(i);
          ev->uuid = state->uuids[i];
        }
      }
      ev->eventType = double(data.eventType);
      ev->data = double(data.eventData);
      if (data.eventType & NVML_EVENT_TYPE_XID_CRITICAL_ERROR) ev->kind = "xid";
      else if (data.eventType & NVML_EVENT_TYPE_DOUBLE_BIT_ECC) ev->kind = "ecc_dbe";
      else if (data.eventType & NVML_EVENT_TYPE_SINGLE_BIT_ECC) ev->kind = "ecc_sbe";
      else ev->kind = "other";
    } else {
      // GPU lost, driver gone, script broken... report it and back off so we never spin.
      ev->kind = "error";
      ev->message = "nvmlEventSetWait_v2 failed: " + state->lib->Describe(r);
      consecutiveErrors++;
    }
    if (state->tsfn.NonBlockingCall(ev, DeliverEvent) != napi_ok) {
      delete ev;
      break;  // the environment is closing
    }
    if (consecutiveErrors > 0) {
      unsigned int backoff = std::min(state->timeoutMs * consecutiveErrors, 5000u);
      for (unsigned int waited = 0; waited < backoff && !state->stopRequested.load(); waited += 50)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  state->tsfn.Release();
}

// Runs on the main thread once the watcher thread has released the function.
void WatchFinalize(Napi::Env env, void * /*data*/, std::shared_ptr<WatchState> *holder) {
  std::shared_ptr<WatchState> state = *holder;
  delete holder;
  if (state->hookRegistered) {
    napi_remove_env_cleanup_hook(env, WatchCleanupHook, state.get());
    state->hookRegistered = false;
  }
  state->JoinAndFree();
  state->finished = true;
  // Statuses ignored on purpose: at environment teardown JS can no longer run and the promises die with it.
  napi_value undefined = nullptr;
  napi_get_undefined(env, &undefined);
  for (napi_deferred d : state->stopWaiters) napi_resolve_deferred(env, d, undefined);
  state->stopWaiters.clear();
}

// ---------------------------------------------------------------------------------------------
// The JS handle

class NvmlHandle : public Napi::ObjectWrap<NvmlHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NvmlHandle",
                       {InstanceMethod("sample", &NvmlHandle::Sample), InstanceMethod("watch", &NvmlHandle::Watch),
                        InstanceMethod("close", &NvmlHandle::Close), InstanceMethod("isOpen", &NvmlHandle::IsOpen)});
  }

  NvmlHandle(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NvmlHandle>(info) {}
  std::shared_ptr<NvmlLib> lib;

 private:
  std::shared_ptr<NvmlLib> Require(Napi::Env env) {
    if (!lib) throw Napi::Error::New(env, "NVML handle is closed: call openNvml() again");
    return lib;
  }

  Napi::Value IsOpen(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), bool(lib)); }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    lib.reset();  // NVML is shut down when the last sample/watcher using it is done
    return info.Env().Undefined();
  }

  Napi::Value Sample(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    auto l = Require(env);
    bool full = info.Length() < 1 || info[0].ToBoolean().Value();
    auto *worker = new SampleWorker(env, l, full);
    Napi::Promise p = worker->Promise();
    worker->Queue();
    return p;
  }

  Napi::Value Watch(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    auto l = Require(env);
    if (info.Length() < 1 || !info[0].IsFunction())
      throw Napi::TypeError::New(env, "watch(callback, timeoutMs): callback must be a function");
    unsigned int timeoutMs = 500;
    if (info.Length() >= 2 && info[1].IsNumber()) {
      double t = info[1].As<Napi::Number>().DoubleValue();
      if (!(t >= 10 && t <= 60000))
        throw Napi::RangeError::New(env, "watch(callback, timeoutMs): timeoutMs must be between 10 and 60000");
      timeoutMs = static_cast<unsigned int>(t);
    }
    if (!l->EventSetCreate || !l->DeviceRegisterEvents || !l->EventSetWait || !l->EventSetFree)
      throw Napi::Error::New(env, "NVML events unavailable: " + l->path +
                                      " lacks nvmlEventSetCreate/nvmlDeviceRegisterEvents/nvmlEventSetWait_v2/"
                                      "nvmlEventSetFree");

    auto state = std::make_shared<WatchState>();
    state->lib = l;
    state->timeoutMs = timeoutMs;
    state->env = env;
    nvmlReturn_t r = l->EventSetCreate(&state->set);
    if (r != NVML_SUCCESS) throw Napi::Error::New(env, "nvmlEventSetCreate failed: " + l->Describe(r));

    // Register every GPU for XID and ECC events it supports; report the ones that refuse.
    unsigned int count = 0;
    r = l->DeviceGetCount(&count);
    if (r != NVML_SUCCESS) {
      l->EventSetFree(state->set);
      throw Napi::Error::New(env, "nvmlDeviceGetCount_v2 failed: " + l->Describe(r));
    }
    Napi::Array registration = Napi::Array::New(env, count);
    const unsigned long long wanted =
        NVML_EVENT_TYPE_XID_CRITICAL_ERROR | NVML_EVENT_TYPE_DOUBLE_BIT_ECC | NVML_EVENT_TYPE_SINGLE_BIT_ECC;
    for (unsigned int i = 0; i < count; i++) {
      nvmlDevice_t dev = nullptr;
      Napi::Object reg = Napi::Object::New(env);
      reg.Set("gpu", i);
      std::string uuid;
      r = l->DeviceGetHandleByIndex(i, &dev);
      if (r == NVML_SUCCESS) {
        char buf[256];
        if (l->DeviceGetUUID && l->DeviceGetUUID(dev, buf, sizeof buf) == NVML_SUCCESS) uuid = buf;
        unsigned long long supported = wanted;
        if (l->DeviceGetSupportedEventTypes) {
          nvmlReturn_t rs = l->DeviceGetSupportedEventTypes(dev, &supported);
          if (rs != NVML_SUCCESS) supported = 0, r = rs;
        }
        unsigned long long mask = supported & wanted;
        if (r == NVML_SUCCESS && mask) r = l->DeviceRegisterEvents(dev, mask, state->set);
        reg.Set("eventTypes", double(r == NVML_SUCCESS ? mask : 0));
        if (r == NVML_SUCCESS && !mask) reg.Set("error", "GPU supports none of the XID/ECC event types");
      }
      reg.Set("uuid", uuid);
      if (r != NVML_SUCCESS) reg.Set("error", l->Describe(r));
      registration.Set(i, reg);
      state->devices.push_back(dev);
      state->uuids.push_back(uuid);
    }

    auto *holder = new std::shared_ptr<WatchState>(state);
    state->tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "meridian.nvml.events", 0, 1,
                                                holder, WatchFinalize, static_cast<void *>(nullptr));
    if (napi_add_env_cleanup_hook(env, WatchCleanupHook, state.get()) == napi_ok) state->hookRegistered = true;
    state->thread = std::thread(WatchLoop, state.get());

    Napi::Object handle = Napi::Object::New(env);
    handle.Set("registration", registration);
    handle.Set("stop", Napi::Function::New(env, [state](const Napi::CallbackInfo &ci) -> Napi::Value {
                 Napi::Env e = ci.Env();
                 napi_deferred d = nullptr;
                 napi_value promise = nullptr;
                 NAPI_THROW_IF_FAILED(e, napi_create_promise(e, &d, &promise), Napi::Value());
                 if (state->finished) {
                   napi_resolve_deferred(e, d, e.Undefined());
                 } else {
                   // A pending stop holds the event loop (even after unref()) until the thread has exited and
                   // the promise is settled: at most one wait timeout.
                   state->tsfn.Ref(e);
                   state->stopRequested = true;
                   state->stopWaiters.push_back(d);
                 }
                 return Napi::Value(e, promise);
               }));
    handle.Set("unref", Napi::Function::New(env, [state](const Napi::CallbackInfo &ci) -> Napi::Value {
                 if (!state->finished && !state->stopRequested.load()) state->tsfn.Unref(ci.Env());
                 return ci.Env().Undefined();
               }));
    return handle;
  }
};

Napi::Value Open(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "open(libraryPath): libraryPath must be a string such as \"libnvidia-ml.so.1\"");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Object result = Napi::Object::New(env);
  std::string reason;
  auto lib = LoadNvml(path, reason);
  if (!lib) {
    result.Set("available", false);
    result.Set("reason", reason);
    result.Set("libraryPath", path);
    return result;
  }
  char buf[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  std::string driver, nvmlVersion;
  if (lib->SystemGetDriverVersion && lib->SystemGetDriverVersion(buf, sizeof buf) == NVML_SUCCESS) driver = buf;
  if (lib->SystemGetNVMLVersion && lib->SystemGetNVMLVersion(buf, sizeof buf) == NVML_SUCCESS) nvmlVersion = buf;
  auto *ctor = env.GetInstanceData<Napi::FunctionReference>();
  Napi::Object handle = ctor->New({});
  NvmlHandle::Unwrap(handle)->lib = lib;
  result.Set("available", true);
  result.Set("handle", handle);
  result.Set("driverVersion", driver);
  result.Set("nvmlVersion", nvmlVersion);
  result.Set("libraryPath", path);
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = NvmlHandle::Define(env);
  auto *ref = new Napi::FunctionReference(Napi::Persistent(ctor));
  env.SetInstanceData<Napi::FunctionReference>(ref);
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace

NODE_API_MODULE(meridian_native, Init)
