// Pixel's train-step binding to onnxruntime's C API (N-API, plain C).
//
// onnxruntime-node copies every output into a new JavaScript buffer, even one the caller
// pre-allocated (which it also fills in place), and refuses typed arrays on shared memory. A
// train step's outputs are its gradients, as large as the model: this binding runs a session with
// every output written straight into the caller's typed arrays and never copies them, and it
// takes arrays on shared memory. It loads the same libonnxruntime that onnxruntime-node ships
// (the caller gives its path), so sessions behave exactly as onnxruntime-node's do.
//
//   init(libraryPath)                               once per process
//   createSession(modelPathOrBytes, threads, spinning, prepacking) -> session
//   run(session, inputs, outputs)                   [name, typedArray, dims][] each; outputs are written in place
//   release(session)                                frees it now (else when it is collected)
#include <dlfcn.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnxruntime_c_api.h"

static const OrtApi *ort = NULL;
static OrtEnv *env = NULL;
static OrtMemoryInfo *cpu = NULL;

// Returns NULL (a pending JS exception) when an N-API call fails.
#define NAPI_OK(call)                                                      \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(e, NULL, "pixel_ort: N-API call failed: " #call);   \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value throw_status(napi_env e, OrtStatus *st) {
  char msg[2048];
  snprintf(msg, sizeof msg, "onnxruntime: %s", ort->GetErrorMessage(st));
  ort->ReleaseStatus(st);
  napi_throw_error(e, NULL, msg);
  return NULL;
}

#define ORT_OK(call)                      \
  do {                                    \
    OrtStatus *st_ = (call);              \
    if (st_) return throw_status(e, st_); \
  } while (0)

static napi_value fail(napi_env e, const char *msg) {
  napi_throw_error(e, NULL, msg);
  return NULL;
}

static napi_value init_ort(napi_env e, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  if (ort) return NULL;
  char path[4096];
  size_t len;
  NAPI_OK(napi_get_value_string_utf8(e, argv[0], path, sizeof path, &len));
  void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!lib) return fail(e, "pixel_ort: cannot load libonnxruntime");
  const OrtApiBase *(*get_base)(void) = (const OrtApiBase *(*)(void))dlsym(lib, "OrtGetApiBase");
  if (!get_base) return fail(e, "pixel_ort: libonnxruntime has no OrtGetApiBase");
  const OrtApi *api = get_base()->GetApi(ORT_API_VERSION);
  if (!api) return fail(e, "pixel_ort: this libonnxruntime does not serve the C API version the binding was built against");
  ort = api;
  ORT_OK(ort->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "pixel", &env));
  ORT_OK(ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &cpu));
  return NULL;
}

typedef struct {
  OrtSession *session;
} Session;

static void finalize_session(napi_env e, void *data, void *hint) {
  (void)e;
  (void)hint;
  Session *s = data;
  if (s->session) ort->ReleaseSession(s->session);
  free(s);
}

static napi_value create_session(napi_env e, napi_callback_info info) {
  if (!ort) return fail(e, "pixel_ort: init() first");
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  if (argc < 4) return fail(e, "pixel_ort: createSession(model, threads, spinning, prepacking)");
  int32_t threads;
  bool spinning, prepacking;
  NAPI_OK(napi_get_value_int32(e, argv[1], &threads));
  NAPI_OK(napi_get_value_bool(e, argv[2], &spinning));
  NAPI_OK(napi_get_value_bool(e, argv[3], &prepacking));
  napi_valuetype kind;
  NAPI_OK(napi_typeof(e, argv[0], &kind));
  OrtSessionOptions *so;
  ORT_OK(ort->CreateSessionOptions(&so));
  OrtStatus *st = ort->SetIntraOpNumThreads(so, threads);
  if (!st) st = ort->SetSessionGraphOptimizationLevel(so, ORT_ENABLE_ALL);
  if (!st) st = ort->AddSessionConfigEntry(so, "session.intra_op.allow_spinning", spinning ? "1" : "0");
  if (!st && !prepacking) st = ort->AddSessionConfigEntry(so, "session.disable_prepacking", "1");
  OrtSession *session = NULL;
  if (!st && kind == napi_string) {
    // A file: external data files beside it are found relative to it.
    size_t len;
    char *path = NULL;
    if (napi_get_value_string_utf8(e, argv[0], NULL, 0, &len) == napi_ok && (path = malloc(len + 1)) &&
        napi_get_value_string_utf8(e, argv[0], path, len + 1, &len) == napi_ok)
      st = ort->CreateSession(env, path, so, &session);
    else
      st = ort->CreateStatus(ORT_INVALID_ARGUMENT, "the model path could not be read");
    free(path);
  } else if (!st) {
    napi_typedarray_type t;
    size_t n, offset;
    void *data;
    napi_value buffer;
    if (napi_get_typedarray_info(e, argv[0], &t, &n, &data, &buffer, &offset) != napi_ok || t != napi_uint8_array)
      st = ort->CreateStatus(ORT_INVALID_ARGUMENT, "the model must be a file path or a Uint8Array");
    else
      st = ort->CreateSessionFromArray(env, data, n, so, &session);
  }
  ort->ReleaseSessionOptions(so);
  if (st) return throw_status(e, st);
  Session *s = malloc(sizeof *s);
  if (!s) {
    ort->ReleaseSession(session);
    return fail(e, "pixel_ort: out of memory");
  }
  s->session = session;
  napi_value out;
  NAPI_OK(napi_create_external(e, s, finalize_session, NULL, &out));
  return out;
}

static Session *session_of(napi_env e, napi_value v) {
  Session *s = NULL;
  if (napi_get_value_external(e, v, (void **)&s) != napi_ok || !s) {
    napi_throw_type_error(e, NULL, "pixel_ort: not a session");
    return NULL;
  }
  if (!s->session) {
    napi_throw_error(e, NULL, "pixel_ort: the session was released");
    return NULL;
  }
  return s;
}

static napi_value release_session(napi_env e, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  Session *s = session_of(e, argv[0]);
  if (!s) return NULL;
  ort->ReleaseSession(s->session);
  s->session = NULL;
  return NULL;
}

static ONNXTensorElementDataType element_type(napi_typedarray_type t, size_t *bytes) {
  switch (t) {
    case napi_float32_array: *bytes = 4; return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case napi_float64_array: *bytes = 8; return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
    case napi_bigint64_array: *bytes = 8; return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    case napi_int32_array: *bytes = 4; return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    case napi_uint8_array: *bytes = 1; return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
    case napi_int8_array: *bytes = 1; return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8;
    default: *bytes = 0; return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  }
}

#define MAX_RANK 16

// Wraps [name, typedArray, dims] triples as OrtValues over the arrays' own memory. On failure,
// throws and returns false; what was wrapped so far is released by the caller.
static bool wrap(napi_env e, napi_value list, uint32_t count, char **names, OrtValue **values) {
  for (uint32_t i = 0; i < count; i++) {
    napi_value item, name, data, dims;
    uint32_t parts = 0;
    bool is_array = false;
    if (napi_get_element(e, list, i, &item) != napi_ok || napi_is_array(e, item, &is_array) != napi_ok || !is_array ||
        napi_get_array_length(e, item, &parts) != napi_ok || parts != 3 || napi_get_element(e, item, 0, &name) != napi_ok ||
        napi_get_element(e, item, 1, &data) != napi_ok || napi_get_element(e, item, 2, &dims) != napi_ok) {
      napi_throw_type_error(e, NULL, "pixel_ort: each input and output is [name, typedArray, dims]");
      return false;
    }
    size_t len;
    if (napi_get_value_string_utf8(e, name, NULL, 0, &len) != napi_ok || !(names[i] = malloc(len + 1)) ||
        napi_get_value_string_utf8(e, name, names[i], len + 1, &len) != napi_ok) {
      napi_throw_type_error(e, NULL, "pixel_ort: a tensor's name must be a string");
      return false;
    }
    napi_typedarray_type t;
    size_t n, offset;
    void *ptr;
    napi_value buffer;
    size_t bytes = 0;
    bool is_typed = false;
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    if (napi_is_typedarray(e, data, &is_typed) == napi_ok && is_typed &&
        napi_get_typedarray_info(e, data, &t, &n, &ptr, &buffer, &offset) == napi_ok)
      type = element_type(t, &bytes);
    if (!bytes) {
      char msg[512];
      snprintf(msg, sizeof msg, "pixel_ort: tensor %.200s is not a Float32Array, Float64Array, BigInt64Array, Int32Array, Uint8Array or Int8Array", names[i]);
      napi_throw_type_error(e, NULL, msg);
      return false;
    }
    uint32_t rank;
    int64_t shape[MAX_RANK];
    int64_t count_of = 1;
    if (napi_get_array_length(e, dims, &rank) != napi_ok || rank > MAX_RANK) {
      napi_throw_type_error(e, NULL, "pixel_ort: dims must be an array of at most 16 numbers");
      return false;
    }
    for (uint32_t k = 0; k < rank; k++) {
      napi_value d;
      if (napi_get_element(e, dims, k, &d) != napi_ok || napi_get_value_int64(e, d, &shape[k]) != napi_ok || shape[k] < 0) {
        napi_throw_type_error(e, NULL, "pixel_ort: dims must be non-negative integers");
        return false;
      }
      count_of *= shape[k];
    }
    if ((size_t)count_of != n) {
      char msg[512];
      snprintf(msg, sizeof msg, "pixel_ort: tensor %.200s has %zu numbers, its dims say %lld", names[i], n, (long long)count_of);
      napi_throw_range_error(e, NULL, msg);
      return false;
    }
    OrtStatus *st = ort->CreateTensorWithDataAsOrtValue(cpu, ptr, n * bytes, shape, rank, type, &values[i]);
    if (st) {
      throw_status(e, st);
      return false;
    }
  }
  return true;
}

static napi_value run(napi_env e, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(e, info, &argc, argv, NULL, NULL));
  if (argc < 3) return fail(e, "pixel_ort: run(session, inputs, outputs)");
  Session *s = session_of(e, argv[0]);
  if (!s) return NULL;
  uint32_t nin = 0, nout = 0;
  if (napi_get_array_length(e, argv[1], &nin) != napi_ok || napi_get_array_length(e, argv[2], &nout) != napi_ok)
    return fail(e, "pixel_ort: inputs and outputs must be arrays");
  char **in_names = calloc(nin + 1, sizeof(char *)), **out_names = calloc(nout + 1, sizeof(char *));
  OrtValue **in_values = calloc(nin + 1, sizeof(OrtValue *)), **out_values = calloc(nout + 1, sizeof(OrtValue *));
  napi_value result = NULL;
  if (!in_names || !out_names || !in_values || !out_values) {
    fail(e, "pixel_ort: out of memory");
  } else if (wrap(e, argv[1], nin, in_names, in_values) && wrap(e, argv[2], nout, out_names, out_values)) {
    OrtStatus *st = ort->Run(s->session, NULL, (const char *const *)in_names, (const OrtValue *const *)in_values, nin,
                             (const char *const *)out_names, nout, out_values);
    if (st)
      throw_status(e, st);
    else
      napi_get_undefined(e, &result);
  }
  for (uint32_t i = 0; in_names && i < nin; i++) free(in_names[i]);
  for (uint32_t i = 0; out_names && i < nout; i++) free(out_names[i]);
  for (uint32_t i = 0; in_values && i < nin; i++)
    if (in_values[i]) ort->ReleaseValue(in_values[i]);
  for (uint32_t i = 0; out_values && i < nout; i++)
    if (out_values[i]) ort->ReleaseValue(out_values[i]);
  free(in_names);
  free(out_names);
  free(in_values);
  free(out_values);
  return result;
}

static napi_value init(napi_env e, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, init_ort, NULL, NULL, NULL, napi_default, NULL},
      {"createSession", NULL, create_session, NULL, NULL, NULL, napi_default, NULL},
      {"run", NULL, run, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, release_session, NULL, NULL, NULL, napi_default, NULL},
  };
  NAPI_OK(napi_define_properties(e, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(pixel_ort, init)
