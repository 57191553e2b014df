/*
 * wasi_nn.h — the wasi-nn preview 1 imports (module "wasi_ephemeral_nn", the witx ABI
 * served by wasmtime, the Rust WasmIoT supervisor and LiquidMesh), declared for C.
 */
#ifndef LIQUIDMESH_WASI_NN_H
#define LIQUIDMESH_WASI_NN_H

#include <stdint.h>

/* nn_errno */
#define NN_SUCCESS               0
#define NN_INVALID_ARGUMENT      1
#define NN_INVALID_ENCODING      2
#define NN_MISSING_MEMORY        3
#define NN_BUSY                  4
#define NN_RUNTIME_ERROR         5
#define NN_UNSUPPORTED_OPERATION 6
#define NN_TOO_LARGE             7
#define NN_NOT_FOUND             8

/* graph_encoding */
#define NN_ENCODING_OPENVINO   0
#define NN_ENCODING_ONNX       1
#define NN_ENCODING_TENSORFLOW 2

/* execution_target */
#define NN_TARGET_CPU 0

/* tensor_type */
#define NN_TYPE_F16 0
#define NN_TYPE_F32 1
#define NN_TYPE_F64 2
#define NN_TYPE_U8  3
#define NN_TYPE_I32 4
#define NN_TYPE_I64 5

/* A graph builder: one byte buffer (for ONNX, the model file). */
typedef struct nn_buffer {
    const uint8_t *data;
    uint32_t len;
} nn_buffer;

/* The witx `tensor` record: dims list, type (u8), data list — 20 bytes, align 4. */
typedef struct nn_tensor {
    const uint32_t *dims;
    uint32_t ndims;
    uint8_t type;
    const uint8_t *data;
    uint32_t len;
} nn_tensor;

#define NN_IMPORT(name) __attribute__((import_module("wasi_ephemeral_nn"), import_name(name)))

NN_IMPORT("load")
uint32_t nn_load(const nn_buffer *builders, uint32_t count, uint32_t encoding, uint32_t target, uint32_t *graph);
NN_IMPORT("load_by_name")
uint32_t nn_load_by_name(const char *name, uint32_t name_len, uint32_t *graph);
NN_IMPORT("init_execution_context")
uint32_t nn_init_execution_context(uint32_t graph, uint32_t *context);
NN_IMPORT("set_input")
uint32_t nn_set_input(uint32_t context, uint32_t index, const nn_tensor *tensor);
NN_IMPORT("compute")
uint32_t nn_compute(uint32_t context);
NN_IMPORT("get_output")
uint32_t nn_get_output(uint32_t context, uint32_t index, uint8_t *out, uint32_t out_max, uint32_t *written);

#endif
