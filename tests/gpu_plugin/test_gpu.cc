// A test GPU for TensorFlow: a PluggableDevice (the C API tensorflow-metal uses) whose "device memory" is host
// memory and whose kernels run on the calling thread. Built by tests/gpu_plugin/build.py with g++ against the
// headers and libtensorflow_framework.so.2 of the installed TensorFlow wheel, it makes TensorFlow on Linux list
// /physical_device:GPU:0 and run placed kernels through its real plugin loader, so verify's GPU checks can be
// tested without a Mac.
//
// TFM_TEST_GPU chooses a behaviour at load time:
//   exact        right numbers (the default)
//   bf16         MatMul and Conv2D round their inputs to bfloat16 (wrong numbers, drifting losses)
//   slow         every MatMul and Conv2D waits 30 times its own compute time (the GPU loses to the CPU)
//   decline      offers no device and prints the community Metal plugin's decline text (built against another TF)
//   disabled     offers no device and prints its TF_DISABLE_METAL text
//   synchronous  works, and logs the community plugin's synchronous-mode warning
//   abort        abort() while TensorFlow loads it
//   hang         never returns from its initialisation
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#define EIGEN_USE_THREADS 0
#include "Eigen/Core"
#include "tensorflow/c/experimental/grappler/grappler.h"
#include "tensorflow/c/experimental/stream_executor/stream_executor.h"
#include "tensorflow/c/kernels.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"
#include "tensorflow/core/public/version.h"

// Handle types the C API declares and leaves to the plugin (they must be at global scope).
struct SP_Stream_st { int unused; };
struct SP_Event_st { int unused; };
struct SP_Timer_st { uint64_t start_ns; uint64_t stop_ns; };

namespace {

const char* const kPlatform = "TFM_TEST_GPU";
const char* const kHardware = "tfm-test-gpu (host memory)";
const uint64_t kMemory = 8ull << 30;

std::string Mode() {
  const char* m = std::getenv("TFM_TEST_GPU");
  return m && *m ? m : "exact";
}

uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

// --- the stream executor: host memory, everything synchronous -------------------------------------------------

void Allocate(const SP_Device*, uint64_t size, int64_t, SP_DeviceMemoryBase* mem) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, size ? size : 64) != 0) p = nullptr;
  mem->struct_size = SP_DEVICE_MEMORY_BASE_STRUCT_SIZE;
  mem->opaque = p;
  mem->size = size;
}
void Deallocate(const SP_Device*, SP_DeviceMemoryBase* mem) { std::free(mem->opaque); mem->opaque = nullptr; }
void* HostAllocate(const SP_Device*, uint64_t size) {
  void* p = nullptr;
  return posix_memalign(&p, 64, size ? size : 64) == 0 ? p : nullptr;
}
void HostDeallocate(const SP_Device*, void* mem) { std::free(mem); }
TF_Bool AllocatorStats(const SP_Device*, SP_AllocatorStats* stats) {
  stats->struct_size = SP_ALLOCATORSTATS_STRUCT_SIZE;
  stats->num_allocs = 0;
  stats->bytes_in_use = 0;
  stats->peak_bytes_in_use = 0;
  stats->largest_alloc_size = 0;
  stats->has_bytes_limit = 1;
  stats->bytes_limit = kMemory;
  return true;
}
TF_Bool MemoryUsage(const SP_Device*, int64_t* free, int64_t* total) {
  *free = kMemory;
  *total = kMemory;
  return true;
}
void CreateStream(const SP_Device*, SP_Stream* stream, TF_Status* status) {
  *stream = new SP_Stream_st{0};
  TF_SetStatus(status, TF_OK, "");
}
void DestroyStream(const SP_Device*, SP_Stream stream) { delete stream; }
void Ok3(const SP_Device*, SP_Stream, SP_Stream, TF_Status* status) { TF_SetStatus(status, TF_OK, ""); }
void StreamStatus(const SP_Device*, SP_Stream, TF_Status* status) { TF_SetStatus(status, TF_OK, ""); }
void CreateEvent(const SP_Device*, SP_Event* event, TF_Status* status) {
  *event = new SP_Event_st{0};
  TF_SetStatus(status, TF_OK, "");
}
void DestroyEvent(const SP_Device*, SP_Event event) { delete event; }
SE_EventStatus EventStatus(const SP_Device*, SP_Event) { return SE_EVENT_COMPLETE; }
void RecordEvent(const SP_Device*, SP_Stream, SP_Event, TF_Status* status) { TF_SetStatus(status, TF_OK, ""); }
void WaitForEvent(const SP_Device* const, SP_Stream, SP_Event, TF_Status* const status) {
  TF_SetStatus(status, TF_OK, "");
}
void CreateTimer(const SP_Device*, SP_Timer* timer, TF_Status* status) {
  *timer = new SP_Timer_st{0, 0};
  TF_SetStatus(status, TF_OK, "");
}
void DestroyTimer(const SP_Device*, SP_Timer timer) { delete timer; }
void StartTimer(const SP_Device*, SP_Stream, SP_Timer timer, TF_Status* status) {
  timer->start_ns = NowNs();
  TF_SetStatus(status, TF_OK, "");
}
void StopTimer(const SP_Device*, SP_Stream, SP_Timer timer, TF_Status* status) {
  timer->stop_ns = NowNs();
  TF_SetStatus(status, TF_OK, "");
}
uint64_t TimerNs(SP_Timer timer) { return timer->stop_ns - timer->start_ns; }
void DtoH(const SP_Device*, SP_Stream, void* dst, const SP_DeviceMemoryBase* src, uint64_t size, TF_Status* status) {
  if (size) std::memcpy(dst, src->opaque, size);
  TF_SetStatus(status, TF_OK, "");
}
void HtoD(const SP_Device*, SP_Stream, SP_DeviceMemoryBase* dst, const void* src, uint64_t size, TF_Status* status) {
  if (size) std::memcpy(dst->opaque, src, size);
  TF_SetStatus(status, TF_OK, "");
}
void DtoD(const SP_Device*, SP_Stream, SP_DeviceMemoryBase* dst, const SP_DeviceMemoryBase* src, uint64_t size,
          TF_Status* status) {
  if (size) std::memcpy(dst->opaque, src->opaque, size);
  TF_SetStatus(status, TF_OK, "");
}
void SyncDtoH(const SP_Device* d, void* dst, const SP_DeviceMemoryBase* src, uint64_t size, TF_Status* status) {
  DtoH(d, nullptr, dst, src, size, status);
}
void SyncHtoD(const SP_Device* d, SP_DeviceMemoryBase* dst, const void* src, uint64_t size, TF_Status* status) {
  HtoD(d, nullptr, dst, src, size, status);
}
void SyncDtoD(const SP_Device* d, SP_DeviceMemoryBase* dst, const SP_DeviceMemoryBase* src, uint64_t size,
              TF_Status* status) {
  DtoD(d, nullptr, dst, src, size, status);
}
void BlockForEvent(const SP_Device*, SP_Event, TF_Status* status) { TF_SetStatus(status, TF_OK, ""); }
void BlockUntilDone(const SP_Device*, SP_Stream, TF_Status* status) { TF_SetStatus(status, TF_OK, ""); }
void SyncAll(const SP_Device*, TF_Status* status) { TF_SetStatus(status, TF_OK, ""); }
void MemZero(const SP_Device*, SP_Stream, SP_DeviceMemoryBase* loc, uint64_t size, TF_Status* status) {
  if (size) std::memset(loc->opaque, 0, size);
  TF_SetStatus(status, TF_OK, "");
}
void Memset8(const SP_Device*, SP_Stream, SP_DeviceMemoryBase* loc, uint8_t pattern, uint64_t size,
             TF_Status* status) {
  if (size) std::memset(loc->opaque, pattern, size);
  TF_SetStatus(status, TF_OK, "");
}
void Memset32(const SP_Device*, SP_Stream, SP_DeviceMemoryBase* loc, uint32_t pattern, uint64_t size,
              TF_Status* status) {
  uint32_t* p = static_cast<uint32_t*>(loc->opaque);
  for (uint64_t i = 0; i < size / 4; ++i) p[i] = pattern;
  TF_SetStatus(status, TF_OK, "");
}
TF_Bool HostCallback(const SP_Device*, SP_Stream, SE_StatusCallbackFn fn, void* arg) {
  TF_Status* status = TF_NewStatus();
  fn(arg, status);
  TF_DeleteStatus(status);
  return true;
}

// --- the platform ----------------------------------------------------------------------------------------------

bool g_offers_device = true;

void DeviceCount(const SP_Platform*, int* count, TF_Status* status) {
  *count = g_offers_device ? 1 : 0;
  TF_SetStatus(status, TF_OK, "");
}
void CreateDevice(const SP_Platform*, SE_CreateDeviceParams* params, TF_Status* status) {
  params->device->struct_size = SP_DEVICE_STRUCT_SIZE;
  params->device->ordinal = params->ordinal;
  params->device->device_handle = nullptr;
  params->device->hardware_name = kHardware;
  params->device->device_vendor = "tests";
  params->device->pci_bus_id = "none";
  TF_SetStatus(status, TF_OK, "");
}
void DestroyDevice(const SP_Platform*, SP_Device*) {}
int32_t NumaNode(const SP_Device*) { return -1; }
int64_t Bandwidth(const SP_Device*) { return 10000000; }
double Gflops(const SP_Device*) { return 100.0; }
void CreateDeviceFns(const SP_Platform*, SE_CreateDeviceFnsParams* params, TF_Status* status) {
  SP_DeviceFns* f = params->device_fns;
  f->struct_size = SP_DEVICE_FNS_STRUCT_SIZE;
  f->get_numa_node = NumaNode;
  f->get_memory_bandwidth = Bandwidth;
  f->get_gflops = Gflops;
  TF_SetStatus(status, TF_OK, "");
}
void DestroyDeviceFns(const SP_Platform*, SP_DeviceFns*) {}
void CreateStreamExecutor(const SP_Platform*, SE_CreateStreamExecutorParams* params, TF_Status* status) {
  SP_StreamExecutor* se = params->stream_executor;
  se->struct_size = SP_STREAMEXECUTOR_STRUCT_SIZE;
  se->allocate = Allocate;
  se->deallocate = Deallocate;
  se->host_memory_allocate = HostAllocate;
  se->host_memory_deallocate = HostDeallocate;
  se->get_allocator_stats = AllocatorStats;
  se->device_memory_usage = MemoryUsage;
  se->create_stream = CreateStream;
  se->destroy_stream = DestroyStream;
  se->create_stream_dependency = Ok3;
  se->get_stream_status = StreamStatus;
  se->create_event = CreateEvent;
  se->destroy_event = DestroyEvent;
  se->get_event_status = EventStatus;
  se->record_event = RecordEvent;
  se->wait_for_event = WaitForEvent;
  se->create_timer = CreateTimer;
  se->destroy_timer = DestroyTimer;
  se->start_timer = StartTimer;
  se->stop_timer = StopTimer;
  se->memcpy_dtoh = DtoH;
  se->memcpy_htod = HtoD;
  se->memcpy_dtod = DtoD;
  se->sync_memcpy_dtoh = SyncDtoH;
  se->sync_memcpy_htod = SyncHtoD;
  se->sync_memcpy_dtod = SyncDtoD;
  se->block_host_for_event = BlockForEvent;
  se->block_host_until_done = BlockUntilDone;
  se->synchronize_all_activity = SyncAll;
  se->mem_zero = MemZero;
  se->memset = Memset8;
  se->memset32 = Memset32;
  se->host_callback = HostCallback;
  TF_SetStatus(status, TF_OK, "");
}
void DestroyStreamExecutor(const SP_Platform*, SP_StreamExecutor*) {}
void CreateTimerFns(const SP_Platform*, SP_TimerFns* fns, TF_Status* status) {
  fns->struct_size = SP_TIMER_FNS_STRUCT_SIZE;
  fns->nanoseconds = TimerNs;
  TF_SetStatus(status, TF_OK, "");
}
void DestroyTimerFns(const SP_Platform*, SP_TimerFns*) {}
void DestroyPlatform(SP_Platform*) {}
void DestroyPlatformFns(SP_PlatformFns*) {}

// --- kernels -----------------------------------------------------------------------------------------------------

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMap = Eigen::Map<RowMatrix>;
using ConstRowMap = Eigen::Map<const RowMatrix>;

bool g_bf16 = false;
bool g_slow = false;

float Bf16(float x) {  // round to nearest even on the top 16 bits
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

// The input as the kernel reads it: itself, or a bfloat16-rounded copy in the bf16 mode.
const float* Operand(TF_Tensor* t, std::vector<float>* copy) {
  const float* p = static_cast<const float*>(TF_TensorData(t));
  if (!g_bf16) return p;
  copy->assign(p, p + TF_TensorElementCount(t));
  for (float& v : *copy) v = Bf16(v);
  return copy->data();
}

void SlowDown(uint64_t start_ns) {  // the slow mode: thirty times the work's own time
  if (g_slow) std::this_thread::sleep_for(std::chrono::nanoseconds(30 * (NowNs() - start_ns) + 200000));
}

bool Fail(TF_OpKernelContext* ctx, TF_Status* s) {
  if (TF_GetCode(s) == TF_OK) return false;
  TF_OpKernelContext_Failure(ctx, s);
  return true;
}

void FailWith(TF_OpKernelContext* ctx, const char* message) {
  TF_Status* s = TF_NewStatus();
  TF_SetStatus(s, TF_UNIMPLEMENTED, message);
  TF_OpKernelContext_Failure(ctx, s);
  TF_DeleteStatus(s);
}

struct Inputs {  // the inputs of one Compute call, released when it returns
  std::vector<TF_Tensor*> t;
  ~Inputs() { for (TF_Tensor* x : t) TF_DeleteTensor(x); }
};

bool GetInputs(TF_OpKernelContext* ctx, int n, Inputs* in, TF_Status* s) {
  for (int i = 0; i < n; ++i) {
    TF_Tensor* t = nullptr;
    TF_GetInput(ctx, i, &t, s);
    if (Fail(ctx, s)) return false;
    in->t.push_back(t);
  }
  return true;
}

TF_Tensor* Output(TF_OpKernelContext* ctx, int i, const std::vector<int64_t>& dims, TF_Status* s) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  TF_Tensor* out = TF_AllocateOutput(ctx, i, TF_FLOAT, dims.data(), static_cast<int>(dims.size()),
                                     n * sizeof(float), s);
  if (Fail(ctx, s)) return nullptr;
  return out;
}

std::vector<int64_t> Dims(TF_Tensor* t) {
  std::vector<int64_t> d;
  for (int i = 0; i < TF_NumDims(t); ++i) d.push_back(TF_Dim(t, i));
  return d;
}

// MatMul
struct MatMulAttrs { bool ta = false, tb = false; };

void* MatMulCreate(TF_OpKernelConstruction* ctx) {
  auto* a = new MatMulAttrs;
  TF_Status* s = TF_NewStatus();
  TF_Bool v = 0;
  TF_OpKernelConstruction_GetAttrBool(ctx, "transpose_a", &v, s);
  a->ta = TF_GetCode(s) == TF_OK && v;
  TF_OpKernelConstruction_GetAttrBool(ctx, "transpose_b", &v, s);
  a->tb = TF_GetCode(s) == TF_OK && v;
  TF_DeleteStatus(s);
  return a;
}
void MatMulDelete(void* k) { delete static_cast<MatMulAttrs*>(k); }

void MatMulCompute(void* kernel, TF_OpKernelContext* ctx) {
  uint64_t start = NowNs();
  auto* attrs = static_cast<MatMulAttrs*>(kernel);
  TF_Status* s = TF_NewStatus();
  Inputs in;
  if (GetInputs(ctx, 2, &in, s)) {
    TF_Tensor *a = in.t[0], *b = in.t[1];
    int64_t a0 = TF_Dim(a, 0), a1 = TF_Dim(a, 1), b0 = TF_Dim(b, 0), b1 = TF_Dim(b, 1);
    int64_t m = attrs->ta ? a1 : a0, n = attrs->tb ? b0 : b1;
    TF_Tensor* out = Output(ctx, 0, {m, n}, s);
    if (out) {
      std::vector<float> ca, cb;
      ConstRowMap A(Operand(a, &ca), a0, a1), B(Operand(b, &cb), b0, b1);
      RowMap C(static_cast<float*>(TF_TensorData(out)), m, n);
      if (m && n) {
        if (attrs->ta && attrs->tb) C.noalias() = A.transpose() * B.transpose();
        else if (attrs->ta) C.noalias() = A.transpose() * B;
        else if (attrs->tb) C.noalias() = A * B.transpose();
        else C.noalias() = A * B;
      }
      TF_DeleteTensor(out);
      SlowDown(start);
    }
  }
  TF_DeleteStatus(s);
}

// BiasAdd (NHWC: the bias on the last axis), BiasAddGrad, Relu, ReluGrad
struct Format { bool nchw = false; };

void* FormatCreate(TF_OpKernelConstruction* ctx) {
  auto* f = new Format;
  TF_Status* s = TF_NewStatus();
  char buf[16] = {0};
  TF_OpKernelConstruction_GetAttrString(ctx, "data_format", buf, sizeof(buf) - 1, s);
  f->nchw = TF_GetCode(s) == TF_OK && std::string(buf) == "NCHW";
  TF_DeleteStatus(s);
  return f;
}
void FormatDelete(void* k) { delete static_cast<Format*>(k); }

void BiasAddCompute(void* kernel, TF_OpKernelContext* ctx) {
  TF_Status* s = TF_NewStatus();
  Inputs in;
  if (static_cast<Format*>(kernel)->nchw) {
    FailWith(ctx, "tfm-test-gpu: BiasAdd supports NHWC only");
  } else if (GetInputs(ctx, 2, &in, s)) {
    TF_Tensor* out = Output(ctx, 0, Dims(in.t[0]), s);
    if (out) {
      const float* x = static_cast<const float*>(TF_TensorData(in.t[0]));
      const float* b = static_cast<const float*>(TF_TensorData(in.t[1]));
      float* y = static_cast<float*>(TF_TensorData(out));
      int64_t c = TF_Dim(in.t[1], 0), total = TF_TensorElementCount(in.t[0]);
      for (int64_t i = 0; i < total; ++i) y[i] = x[i] + b[i % c];
      TF_DeleteTensor(out);
    }
  }
  TF_DeleteStatus(s);
}

void BiasAddGradCompute(void* kernel, TF_OpKernelContext* ctx) {
  TF_Status* s = TF_NewStatus();
  Inputs in;
  if (static_cast<Format*>(kernel)->nchw) {
    FailWith(ctx, "tfm-test-gpu: BiasAddGrad supports NHWC only");
  } else if (GetInputs(ctx, 1, &in, s)) {
    int64_t c = TF_Dim(in.t[0], TF_NumDims(in.t[0]) - 1), total = TF_TensorElementCount(in.t[0]);
    TF_Tensor* out = Output(ctx, 0, {c}, s);
    if (out) {
      const float* g = static_cast<const float*>(TF_TensorData(in.t[0]));
      float* y = static_cast<float*>(TF_TensorData(out));
      std::vector<double> acc(c, 0.0);
      for (int64_t i = 0; i < total; ++i) acc[i % c] += g[i];
      for (int64_t j = 0; j < c; ++j) y[j] = static_cast<float>(acc[j]);
      TF_DeleteTensor(out);
    }
  }
  TF_DeleteStatus(s);
}

void* NoAttrs(TF_OpKernelConstruction*) { return nullptr; }
void NoDelete(void*) {}

void ReluCompute(void*, TF_OpKernelContext* ctx) {
  TF_Status* s = TF_NewStatus();
  Inputs in;
  if (GetInputs(ctx, 1, &in, s)) {
    TF_Tensor* out = Output(ctx, 0, Dims(in.t[0]), s);
    if (out) {
      const float* x = static_cast<const float*>(TF_TensorData(in.t[0]));
      float* y = static_cast<float*>(TF_TensorData(out));
      for (int64_t i = 0, n = TF_TensorElementCount(in.t[0]); i < n; ++i) y[i] = x[i] > 0 ? x[i] : 0.0f;
      TF_DeleteTensor(out);
    }
  }
  TF_DeleteStatus(s);
}

void ReluGradCompute(void*, TF_OpKernelContext* ctx) {  // inputs: gradients, features
  TF_Status* s = TF_NewStatus();
  Inputs in;
  if (GetInputs(ctx, 2, &in, s)) {
    TF_Tensor* out = Output(ctx, 0, Dims(in.t[0]), s);
    if (out) {
      const float* g = static_cast<const float*>(TF_TensorData(in.t[0]));
      const float* f = static_cast<const float*>(TF_TensorData(in.t[1]));
      float* y = static_cast<float*>(TF_TensorData(out));
      for (int64_t i = 0, n = TF_TensorElementCount(in.t[0]); i < n; ++i) y[i] = f[i] > 0 ? g[i] : 0.0f;
      TF_DeleteTensor(out);
    }
  }
  TF_DeleteStatus(s);
}

// Conv2D and Conv2DBackpropFilter: NHWC, strides on H and W, VALID or SAME padding, no dilation.
struct ConvAttrs {
  int64_t sh = 1, sw = 1;
  bool same = false, ok = true, bias = false, relu = false;  // bias, relu: _FusedConv2D's fused_ops
  std::string why;
};

// _FusedConv2D (Grappler's remapper makes it from Conv2D + BiasAdd + Relu on any GPU): its fused_ops list
void FusedOps(TF_OpKernelConstruction* ctx, ConvAttrs* a) {
  TF_Status* s = TF_NewStatus();
  int32_t count = 0, total = 0;
  TF_OpKernelConstruction_GetAttrSize(ctx, "fused_ops", &count, &total, s);
  if (TF_GetCode(s) == TF_OK && count > 0) {
    std::vector<char*> values(count);
    std::vector<size_t> lengths(count);
    std::vector<char> storage(total + 1);
    TF_OpKernelConstruction_GetAttrStringList(ctx, "fused_ops", values.data(), lengths.data(), count,
                                              storage.data(), storage.size(), s);
    for (int32_t i = 0; i < count && TF_GetCode(s) == TF_OK; ++i) {
      std::string op(values[i], lengths[i]);
      if (op == "BiasAdd") a->bias = true;
      else if (op == "Relu") a->relu = true;
      else a->ok = false, a->why = "tfm-test-gpu: _FusedConv2D fuses BiasAdd and Relu only, not " + op;
    }
  }
  TF_DeleteStatus(s);
}

void* ConvCreate(TF_OpKernelConstruction* ctx) {
  auto* a = new ConvAttrs;
  TF_Status* s = TF_NewStatus();
  int64_t strides[4] = {1, 1, 1, 1}, dil[4] = {1, 1, 1, 1};
  char fmt[16] = {0}, pad[16] = {0};
  TF_OpKernelConstruction_GetAttrInt64List(ctx, "strides", strides, 4, s);
  TF_OpKernelConstruction_GetAttrInt64List(ctx, "dilations", dil, 4, s);
  TF_OpKernelConstruction_GetAttrString(ctx, "data_format", fmt, sizeof(fmt) - 1, s);
  TF_OpKernelConstruction_GetAttrString(ctx, "padding", pad, sizeof(pad) - 1, s);
  a->sh = strides[1];
  a->sw = strides[2];
  a->same = std::string(pad) == "SAME";
  if (std::string(fmt) != "NHWC") a->ok = false, a->why = "tfm-test-gpu: Conv2D supports NHWC only";
  if (!a->same && std::string(pad) != "VALID") a->ok = false, a->why = "tfm-test-gpu: VALID or SAME padding only";
  if (dil[1] != 1 || dil[2] != 1) a->ok = false, a->why = "tfm-test-gpu: no dilations";
  TF_DeleteStatus(s);
  FusedOps(ctx, a);
  return a;
}
void ConvDelete(void* k) { delete static_cast<ConvAttrs*>(k); }

struct ConvShape {
  int64_t n, h, w, ci, kh, kw, co, oh, ow, pt, pl;
};

ConvShape Shape(const ConvAttrs& a, const std::vector<int64_t>& x, const std::vector<int64_t>& f) {
  ConvShape c{x[0], x[1], x[2], x[3], f[0], f[1], f[3], 0, 0, 0, 0};
  if (a.same) {
    c.oh = (c.h + a.sh - 1) / a.sh;
    c.ow = (c.w + a.sw - 1) / a.sw;
    c.pt = std::max<int64_t>(0, (c.oh - 1) * a.sh + c.kh - c.h) / 2;
    c.pl = std::max<int64_t>(0, (c.ow - 1) * a.sw + c.kw - c.w) / 2;
  } else {
    c.oh = (c.h - c.kh) / a.sh + 1;
    c.ow = (c.w - c.kw) / a.sw + 1;
  }
  return c;
}

void Conv2DCompute(void* kernel, TF_OpKernelContext* ctx) {
  uint64_t start = NowNs();
  auto& a = *static_cast<ConvAttrs*>(kernel);
  if (!a.ok) return FailWith(ctx, a.why.c_str());
  TF_Status* s = TF_NewStatus();
  Inputs in;
  if (GetInputs(ctx, a.bias ? 3 : 2, &in, s)) {
    ConvShape c = Shape(a, Dims(in.t[0]), Dims(in.t[1]));
    TF_Tensor* out = Output(ctx, 0, {c.n, c.oh, c.ow, c.co}, s);
    if (out) {
      std::vector<float> cx, cf;
      const float* x = Operand(in.t[0], &cx);
      const float* f = Operand(in.t[1], &cf);
      float* y = static_cast<float*>(TF_TensorData(out));
      std::fill(y, y + c.n * c.oh * c.ow * c.co, 0.0f);
      for (int64_t b = 0; b < c.n; ++b)
        for (int64_t i = 0; i < c.oh; ++i)
          for (int64_t j = 0; j < c.ow; ++j) {
            float* yo = y + ((b * c.oh + i) * c.ow + j) * c.co;
            for (int64_t p = 0; p < c.kh; ++p) {
              int64_t hi = i * a.sh + p - c.pt;
              if (hi < 0 || hi >= c.h) continue;
              for (int64_t q = 0; q < c.kw; ++q) {
                int64_t wi = j * a.sw + q - c.pl;
                if (wi < 0 || wi >= c.w) continue;
                const float* xi = x + ((b * c.h + hi) * c.w + wi) * c.ci;
                const float* fi = f + (p * c.kw + q) * c.ci * c.co;
                for (int64_t k = 0; k < c.ci; ++k)
                  for (int64_t o = 0; o < c.co; ++o) yo[o] += xi[k] * fi[k * c.co + o];
              }
            }
          }
      const float* bias = a.bias ? static_cast<const float*>(TF_TensorData(in.t[2])) : nullptr;
      for (int64_t i = 0, n = c.n * c.oh * c.ow * c.co; (bias || a.relu) && i < n; ++i) {
        if (bias) y[i] += bias[i % c.co];
        if (a.relu && y[i] < 0) y[i] = 0.0f;
      }
      TF_DeleteTensor(out);
      SlowDown(start);
    }
  }
  TF_DeleteStatus(s);
}

void Conv2DBackpropFilterCompute(void* kernel, TF_OpKernelContext* ctx) {  // input, filter_sizes, out_backprop
  auto& a = *static_cast<ConvAttrs*>(kernel);
  if (!a.ok) return FailWith(ctx, a.why.c_str());
  TF_Status* s = TF_NewStatus();
  Inputs in;
  if (GetInputs(ctx, 3, &in, s)) {
    const int32_t* fs = static_cast<const int32_t*>(TF_TensorData(in.t[1]));  // host memory
    std::vector<int64_t> fdims{fs[0], fs[1], fs[2], fs[3]};
    ConvShape c = Shape(a, Dims(in.t[0]), fdims);
    TF_Tensor* out = Output(ctx, 0, fdims, s);
    if (out) {
      const float* x = static_cast<const float*>(TF_TensorData(in.t[0]));
      const float* g = static_cast<const float*>(TF_TensorData(in.t[2]));
      float* df = static_cast<float*>(TF_TensorData(out));
      std::fill(df, df + c.kh * c.kw * c.ci * c.co, 0.0f);
      for (int64_t b = 0; b < c.n; ++b)
        for (int64_t i = 0; i < c.oh; ++i)
          for (int64_t j = 0; j < c.ow; ++j) {
            const float* go = g + ((b * c.oh + i) * c.ow + j) * c.co;
            for (int64_t p = 0; p < c.kh; ++p) {
              int64_t hi = i * a.sh + p - c.pt;
              if (hi < 0 || hi >= c.h) continue;
              for (int64_t q = 0; q < c.kw; ++q) {
                int64_t wi = j * a.sw + q - c.pl;
                if (wi < 0 || wi >= c.w) continue;
                const float* xi = x + ((b * c.h + hi) * c.w + wi) * c.ci;
                float* dfi = df + (p * c.kw + q) * c.ci * c.co;
                for (int64_t k = 0; k < c.ci; ++k)
                  for (int64_t o = 0; o < c.co; ++o) dfi[k * c.co + o] += xi[k] * go[o];
              }
            }
          }
      TF_DeleteTensor(out);
    }
  }
  TF_DeleteStatus(s);
}

// Sum over the given axes (the matmul probe ends each timed repetition with a reduction read on the host)
struct SumAttrs { bool keep = false; };

void* SumCreate(TF_OpKernelConstruction* ctx) {
  auto* a = new SumAttrs;
  TF_Status* s = TF_NewStatus();
  TF_Bool v = 0;
  TF_OpKernelConstruction_GetAttrBool(ctx, "keep_dims", &v, s);
  a->keep = TF_GetCode(s) == TF_OK && v;
  TF_DeleteStatus(s);
  return a;
}
void SumDelete(void* k) { delete static_cast<SumAttrs*>(k); }

void SumCompute(void* kernel, TF_OpKernelContext* ctx) {
  TF_Status* s = TF_NewStatus();
  Inputs in;
  if (GetInputs(ctx, 2, &in, s)) {
    std::vector<int64_t> dims = Dims(in.t[0]);
    int rank = static_cast<int>(dims.size());
    std::vector<bool> reduced(rank, false);
    const int32_t* axes = static_cast<const int32_t*>(TF_TensorData(in.t[1]));  // host memory
    for (int64_t i = 0, n = TF_TensorElementCount(in.t[1]); i < n; ++i)
      reduced[(axes[i] % rank + rank) % rank] = true;
    std::vector<int64_t> out_dims, strides(rank, 1);
    int64_t out_count = 1;
    for (int d = rank - 1; d > 0; --d) strides[d - 1] = strides[d] * dims[d];
    for (int d = 0; d < rank; ++d) {
      if (!reduced[d]) out_dims.push_back(dims[d]), out_count *= dims[d];
      else if (static_cast<SumAttrs*>(kernel)->keep) out_dims.push_back(1);
    }
    TF_Tensor* out = Output(ctx, 0, out_dims, s);
    if (out) {
      const float* x = static_cast<const float*>(TF_TensorData(in.t[0]));
      std::vector<double> acc(out_count, 0.0);
      for (int64_t i = 0, n = TF_TensorElementCount(in.t[0]); i < n; ++i) {
        int64_t o = 0, rest = i;
        for (int d = 0; d < rank; ++d) {
          int64_t idx = rest / strides[d];
          rest %= strides[d];
          if (!reduced[d]) o = o * dims[d] + idx;
        }
        acc[o] += x[i];
      }
      float* y = static_cast<float*>(TF_TensorData(out));
      for (int64_t j = 0; j < out_count; ++j) y[j] = static_cast<float>(acc[j]);
      TF_DeleteTensor(out);
    }
  }
  TF_DeleteStatus(s);
}

// StridedSlice of a float tensor: positive strides, begin and end masks (the probe reads c[:64, :64])
struct SliceAttrs { int64_t begin_mask = 0, end_mask = 0, other = 0; };

void* SliceCreate(TF_OpKernelConstruction* ctx) {
  auto* a = new SliceAttrs;
  TF_Status* s = TF_NewStatus();
  int64_t v = 0;
  TF_OpKernelConstruction_GetAttrInt64(ctx, "begin_mask", &v, s);
  a->begin_mask = v;
  TF_OpKernelConstruction_GetAttrInt64(ctx, "end_mask", &v, s);
  a->end_mask = v;
  for (const char* name : {"ellipsis_mask", "new_axis_mask", "shrink_axis_mask"}) {
    v = 0;
    TF_OpKernelConstruction_GetAttrInt64(ctx, name, &v, s);
    a->other |= v;
  }
  TF_DeleteStatus(s);
  return a;
}
void SliceDelete(void* k) { delete static_cast<SliceAttrs*>(k); }

void StridedSliceCompute(void* kernel, TF_OpKernelContext* ctx) {
  auto& a = *static_cast<SliceAttrs*>(kernel);
  if (a.other) return FailWith(ctx, "tfm-test-gpu: StridedSlice without ellipsis, new or shrunk axes only");
  TF_Status* s = TF_NewStatus();
  Inputs in;
  if (GetInputs(ctx, 4, &in, s)) {
    std::vector<int64_t> dims = Dims(in.t[0]);
    int rank = static_cast<int>(dims.size());
    const int32_t* b = static_cast<const int32_t*>(TF_TensorData(in.t[1]));
    const int32_t* e = static_cast<const int32_t*>(TF_TensorData(in.t[2]));
    const int32_t* st = static_cast<const int32_t*>(TF_TensorData(in.t[3]));
    int given = static_cast<int>(TF_TensorElementCount(in.t[1]));
    std::vector<int64_t> lo(rank), step(rank), out_dims(rank), strides(rank, 1);
    bool ok = true;
    for (int d = 0; d < rank; ++d) {
      int64_t first = 0, last = dims[d], k = 1;
      if (d < given) {
        k = st[d];
        if (!(a.begin_mask >> d & 1)) first = b[d] < 0 ? b[d] + dims[d] : b[d];
        if (!(a.end_mask >> d & 1)) last = e[d] < 0 ? e[d] + dims[d] : e[d];
      }
      first = std::min(std::max<int64_t>(first, 0), dims[d]);
      last = std::min(std::max<int64_t>(last, 0), dims[d]);
      if (k <= 0) ok = false;
      lo[d] = first;
      step[d] = k;
      out_dims[d] = last > first && k > 0 ? (last - first + k - 1) / k : 0;
    }
    for (int d = rank - 1; d > 0; --d) strides[d - 1] = strides[d] * dims[d];
    if (!ok) {
      FailWith(ctx, "tfm-test-gpu: StridedSlice with positive strides only");
    } else if (TF_Tensor* out = Output(ctx, 0, out_dims, s)) {
      const float* x = static_cast<const float*>(TF_TensorData(in.t[0]));
      float* y = static_cast<float*>(TF_TensorData(out));
      int64_t count = TF_TensorElementCount(out);
      for (int64_t i = 0; i < count; ++i) {
        int64_t src = 0, rest = i;
        for (int d = rank - 1; d >= 0; --d) {
          int64_t idx = rest % out_dims[d];
          rest /= out_dims[d];
          src += (lo[d] + idx * step[d]) * strides[d];
        }
        y[i] = x[src];
      }
      TF_DeleteTensor(out);
    }
  }
  TF_DeleteStatus(s);
}

void Register(const char* op, void* (*create)(TF_OpKernelConstruction*), void (*compute)(void*, TF_OpKernelContext*),
              void (*destroy)(void*), std::vector<const char*> host_args = {}, const char* index_attr = nullptr) {
  TF_Status* s = TF_NewStatus();
  TF_KernelBuilder* b = TF_NewKernelBuilder(op, "GPU", create, compute, destroy);
  TF_KernelBuilder_TypeConstraint(b, "T", TF_FLOAT, s);
  if (index_attr && TF_GetCode(s) == TF_OK) TF_KernelBuilder_TypeConstraint(b, index_attr, TF_INT32, s);
  for (const char* arg : host_args) TF_KernelBuilder_HostMemory(b, arg);
  if (TF_GetCode(s) == TF_OK) TF_RegisterKernelBuilder((std::string("tfm_test_gpu_") + op).c_str(), b, s);
  if (TF_GetCode(s) != TF_OK) std::fprintf(stderr, "tfm-test-gpu: cannot register %s: %s\n", op, TF_Message(s));
  TF_DeleteStatus(s);
}

}  // namespace

extern "C" {

void SE_InitPlugin(SE_PlatformRegistrationParams* params, TF_Status* status) {
  const std::string mode = Mode();
  if (mode == "abort") {
    std::fprintf(stderr, "tfm-test-gpu: aborting while TensorFlow loads it (TFM_TEST_GPU=abort)\n");
    std::fflush(stderr);
    std::abort();
  }
  if (mode == "hang") {
    std::fprintf(stderr, "tfm-test-gpu: hanging while TensorFlow loads it (TFM_TEST_GPU=hang)\n");
    std::fflush(stderr);
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (mode == "decline") {  // the community plugin's text (src/plugin_init.cc, StandDownReason), other versions
    std::fprintf(stderr,
                 "Metal: this plugin was built against TensorFlow 2.18 and is loaded into TensorFlow %d.%d, so no "
                 "GPU device is offered. The PluggableDevice C API matches its structs by size and the two do not "
                 "interoperate. Rebuild the plugin against this TensorFlow (pip install --force-reinstall "
                 "--no-build-isolation tensorflow-metal-plugin), or set TF_METAL_SKIP_VERSION_CHECK=1 to load it "
                 "anyway.\n", TF_MAJOR_VERSION, TF_MINOR_VERSION);
    g_offers_device = false;
  }
  if (mode == "disabled") {
    std::fprintf(stderr, "Metal: backend disabled by TF_DISABLE_METAL, so no GPU device is offered. Unset it to "
                         "re-enable.\n");
    g_offers_device = false;
  }
  g_bf16 = mode == "bf16";
  g_slow = mode == "slow";
  params->major_version = SE_MAJOR;
  params->minor_version = SE_MINOR;
  params->patch_version = SE_PATCH;
  params->platform->struct_size = SP_PLATFORM_STRUCT_SIZE;
  params->platform->name = kPlatform;
  params->platform->type = "GPU";
  params->platform->supports_unified_memory = false;
  params->platform->use_bfc_allocator = false;
  params->platform->force_memory_growth = false;
  SP_PlatformFns* f = params->platform_fns;
  f->struct_size = SP_PLATFORM_FNS_STRUCT_SIZE;
  f->get_device_count = DeviceCount;
  f->create_device = CreateDevice;
  f->destroy_device = DestroyDevice;
  f->create_device_fns = CreateDeviceFns;
  f->destroy_device_fns = DestroyDeviceFns;
  f->create_stream_executor = CreateStreamExecutor;
  f->destroy_stream_executor = DestroyStreamExecutor;
  f->create_timer_fns = CreateTimerFns;
  f->destroy_timer_fns = DestroyTimerFns;
  params->destroy_platform = DestroyPlatform;
  params->destroy_platform_fns = DestroyPlatformFns;
  TF_SetStatus(status, TF_OK, "");
}

// Grappler's options for graphs on this device (the C API a plugin uses for them): no layout optimizer, which on any
// "GPU" turns the conv layers to NCHW and adds Transposes that have no kernel here; the graph passes through as is.
void* NoState() { return nullptr; }
void NoStateDelete(void*) {}
void PassThrough(void*, const TF_Buffer* in, const TF_GrapplerItem*, TF_Buffer* out, TF_Status* status) {
  void* copy = std::malloc(in->length ? in->length : 1);
  if (in->length) std::memcpy(copy, in->data, in->length);
  out->data = copy;
  out->length = in->length;
  out->data_deallocator = [](void* data, size_t) { std::free(data); };
  TF_SetStatus(status, TF_OK, "");
}

void TF_InitGraph(TP_OptimizerRegistrationParams* params, TF_Status* status) {
  params->major_version = GO_MAJOR;
  params->minor_version = GO_MINOR;
  params->patch_version = GO_PATCH;
  params->device_type = "GPU";
  params->optimizer_configs->struct_size = TP_OPTIMIZER_CONFIGS_STRUCT_SIZE;
  params->optimizer_configs->layout_optimizer = TF_TriState_Off;
  params->optimizer->struct_size = TP_OPTIMIZER_STRUCT_SIZE;
  params->optimizer->create_func = NoState;
  params->optimizer->optimize_func = PassThrough;
  params->optimizer->destroy_func = NoStateDelete;
  TF_SetStatus(status, TF_OK, "");
}

void TF_InitKernel() {
  if (Mode() == "synchronous") {  // the community plugin's LOG(WARNING) (metal_kernel_util.mm, SynchronousMode)
    std::fprintf(stderr, "W tensorflow/core/common_runtime/metal/kernels/metal_kernel_util.mm:224] Metal: this "
                         "TensorFlow does not export the kernel C API for resource variables, so its own kernels "
                         "update variables from the host. Every Metal kernel now waits for the GPU before "
                         "returning, which is slower and is the only way those updates cannot race. See "
                         "https://github.com/tensorflow/tensorflow/issues/126374.\n");
  }
  Register("MatMul", MatMulCreate, MatMulCompute, MatMulDelete);
  Register("BiasAdd", FormatCreate, BiasAddCompute, FormatDelete);
  Register("BiasAddGrad", FormatCreate, BiasAddGradCompute, FormatDelete);
  Register("Relu", NoAttrs, ReluCompute, NoDelete);
  Register("ReluGrad", NoAttrs, ReluGradCompute, NoDelete);
  Register("Conv2D", ConvCreate, Conv2DCompute, ConvDelete);
  Register("_FusedConv2D", ConvCreate, Conv2DCompute, ConvDelete);
  Register("Conv2DBackpropFilter", ConvCreate, Conv2DBackpropFilterCompute, ConvDelete, {"filter_sizes"});
  Register("Sum", SumCreate, SumCompute, SumDelete, {"reduction_indices"}, "Tidx");
  Register("StridedSlice", SliceCreate, StridedSliceCompute, SliceDelete, {"begin", "end", "strides"}, "Index");
}

}  // extern "C"
