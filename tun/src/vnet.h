// vnet.cc: TUN/TAP devices opened with IFF_VNET_HDR (a struct virtio_net_hdr before every packet) and
// TUNSETOFFLOAD: checksum offload and GSO super-packets. Contract in vnet.cc's header.
#pragma once

#define NAPI_VERSION 8
#include <node_api.h>

napi_value SetOffload(napi_env env, napi_callback_info cbinfo);
napi_value SetVnetHdrSize(napi_env env, napi_callback_info cbinfo);
napi_value ReadBurstVnet(napi_env env, napi_callback_info cbinfo);
napi_value WriteBurstVnet(napi_env env, napi_callback_info cbinfo);
