// uring.cc: the io_uring backend (uringOpen, uringRead, uringWrite, uringClose; contract in uring.cc's header).
#pragma once

#define NAPI_VERSION 8
#include <node_api.h>

// Adds `uringBuilt` (true when built with liburing) and, when built, the uring functions to exports.
void RegisterUring(napi_env env, napi_value exports);
