// tun.node: the native half of tun/ — open a TUN or TAP device, move packets between its file descriptor and
// a slab (one JavaScript ArrayBuffer) in bursts, and report readiness through libuv.
//
// Written against the C N-API (node_api.h) rather than node-addon-api: the addon is six functions, the two hot
// ones must make as few N-API calls per burst as possible (each is a few tens of ns), and the C API needs no
// C++ exception set-up (node-gyp builds with -fno-exceptions). Contract, per function:
//
//   open(name, {tap, multiQueue, vnetHdr, exclusive, devicePath, netnsPath}) -> {fd, name}
//       open(devicePath, O_RDWR|O_NONBLOCK|O_CLOEXEC), TUNSETIFF with IFF_TUN or IFF_TAP, IFF_NO_PI, and
//       IFF_MULTI_QUEUE / IFF_VNET_HDR / IFF_TUN_EXCL as asked, then TUNSETPERSIST 0 (the device lives as long
//       as a queue fd is open). Throws an Error carrying `errno` (positive) and `syscall` ("open", "TUNSETIFF",
//       ...); tun/addon.ts turns it into the one-line message the user sees.
//   readBurst(fd, slab, offs, lens, max, cap, info) -> n >= 0, or -errno
//       Reads up to `max` packets, packet i into slab[offs[i] .. offs[i]+cap), sets lens[i]. Stops early at
//       EAGAIN. A read that fills all `cap` bytes may have been cut short (the kernel silently drops the
//       tail of a packet longer than the buffer), so packets must be shorter than `cap`: one that fills it is
//       dropped and counted in info[0]. (A 1-byte overflow iovec with readv would tell exactly, but readv
//       costs ~50 ns more per packet than read here.) info[1], info[2] = CLOCK_REALTIME seconds and
//       nanoseconds, taken once per burst after its reads (when n > 0). An error other than EAGAIN/EINTR is
//       returned as -errno when no packet was read; after a packet it ends the burst and the next call
//       reports it.
//   writeBurst(fd, slab, offs, lens, n, info) -> packets written
//       write(2) per packet (a TUN/TAP write is one packet; writev would not batch). EAGAIN stops the burst.
//       Other errors (EINVAL for a packet the kernel rejects, EIO when the link is down) skip that packet:
//       info[0] = how many were skipped, info[1] = the last errno, info[2] = bytes written. So
//       `n - written - info[0]` packets were not attempted because of EAGAIN. EBADF/EBADFD (no device behind
//       the fd any more) fail the rest of the burst at once.
//   pollStart(fd, callback) -> id;  pollStop(id)
//       A uv_poll_t on the fd for UV_READABLE (level-triggered): callback(status) runs once per readiness event,
//       status 0, or a negative libuv error after which libuv has stopped the poll (POLLERR: the device was
//       deleted). pollStop is idempotent; unknown ids are ignored.
//   close(fd) -> 0 or -errno; a negative fd is a no-op.
//   setOffload, setVnetHdrSize, readBurstVnet, writeBurstVnet: devices opened with vnetHdr (offloads, GSO,
//   UDP-tunnel GSO); see vnet.cc.
//   uringBuilt, uringOpen, uringRead, uringWrite, uringClose: the io_uring backend; see uring.cc.
//
// Bad arguments (wrong types, offsets outside the slab) are programming errors of the caller: they throw a
// TypeError/RangeError and never touch memory outside the slab.

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include "uring.h"
#include "vnet.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <unordered_map>

namespace {

#define CHECK_NAPI(env, call)                                  \
  do {                                                         \
    if ((call) != napi_ok) {                                   \
      ThrowLast(env, #call);                                   \
      return nullptr;                                          \
    }                                                          \
  } while (0)

void ThrowLast(napi_env env, const char* what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info* info = nullptr;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "tun.node: %s failed: %s", what,
           info && info->error_message ? info->error_message : "unknown N-API error");
  napi_throw_error(env, nullptr, msg);
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

// Throws `new Error("<syscall>: <strerror>")` with .errno = err (positive) and .syscall.
napi_value ThrowErrno(napi_env env, int err, const char* syscall) {
  char text[256];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  napi_value msg, error, errnoVal, syscallVal;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, nullptr, msg, &error);
  napi_create_int32(env, err, &errnoVal);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscallVal);
  napi_set_named_property(env, error, "errno", errnoVal);
  napi_set_named_property(env, error, "syscall", syscallVal);
  napi_throw(env, error);
  return nullptr;
}

bool GetBool(napi_env env, napi_value obj, const char* key) {
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return false;
  napi_value v;
  bool out = false;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return false;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_boolean) napi_get_value_bool(env, v, &out);
  return out;
}

// Reads a string argument into buf (NUL-terminated); false when it is not a string or does not fit.
bool GetString(napi_env env, napi_value v, char* buf, size_t size, size_t* len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return false;
  size_t full = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &full) != napi_ok || full + 1 > size) return false;
  napi_get_value_string_utf8(env, v, buf, size, len);
  return true;
}

// An Int32Array argument: its data and element count; throws TypeError otherwise.
bool GetInt32Array(napi_env env, napi_value v, int32_t** data, size_t* length, const char* what) {
  napi_typedarray_type type;
  void* ptr = nullptr;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, nullptr, nullptr) == napi_ok && type == napi_int32_array) {
    *data = static_cast<int32_t*>(ptr);
    return true;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "tun.node: %s must be an Int32Array", what);
  napi_throw_type_error(env, nullptr, msg);
  return false;
}

bool GetFloat64Array(napi_env env, napi_value v, double** data, size_t* length, const char* what) {
  napi_typedarray_type type;
  void* ptr = nullptr;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, nullptr, nullptr) == napi_ok &&
      type == napi_float64_array) {
    *data = static_cast<double*>(ptr);
    return true;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "tun.node: %s must be a Float64Array", what);
  napi_throw_type_error(env, nullptr, msg);
  return false;
}

bool GetSlab(napi_env env, napi_value v, uint8_t** data, size_t* length) {
  void* ptr = nullptr;
  if (napi_get_arraybuffer_info(env, v, &ptr, length) == napi_ok) {
    *data = static_cast<uint8_t*>(ptr);
    return true;
  }
  napi_throw_type_error(env, nullptr, "tun.node: slab must be an ArrayBuffer");
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// open(name, options) -> { fd, name }

napi_value Open(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr));
  char name[64] = {0};
  size_t nameLen = 0;
  if (argc < 1 || !GetString(env, argv[0], name, sizeof name, &nameLen)) {
    napi_throw_type_error(env, nullptr, "tun.node: open(name, options): name must be a string");
    return nullptr;
  }
  if (nameLen >= IFNAMSIZ) return ThrowErrno(env, ENAMETOOLONG, "TUNSETIFF");

  bool tap = false, multiQueue = false, vnetHdr = false, exclusive = false;
  char devicePath[256] = "/dev/net/tun";
  if (argc >= 2) {
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t == napi_object) {
      tap = GetBool(env, argv[1], "tap");
      multiQueue = GetBool(env, argv[1], "multiQueue");
      vnetHdr = GetBool(env, argv[1], "vnetHdr");
      exclusive = GetBool(env, argv[1], "exclusive");
      bool has = false;
      napi_has_named_property(env, argv[1], "devicePath", &has);
      if (has) {
        napi_value p;
        size_t plen = 0;
        napi_get_named_property(env, argv[1], "devicePath", &p);
        if (!GetString(env, p, devicePath, sizeof devicePath, &plen)) {
          napi_throw_type_error(env, nullptr, "tun.node: open: devicePath must be a string (< 256 bytes)");
          return nullptr;
        }
      }
    }
  }

  // netnsPath: create the device inside that network namespace (like a CNI plugin's ns.Do): switch this thread
  // into it for the open and TUNSETIFF, then back. The fd keeps working from the caller's namespace, and no
  // device ever appears in the caller's namespace. Nothing else runs on this thread meanwhile (JS is blocked).
  char netnsPath[256] = {0};
  if (argc >= 2) {
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    bool has = false;
    if (t == napi_object) napi_has_named_property(env, argv[1], "netnsPath", &has);
    if (has) {
      napi_value p;
      size_t plen = 0;
      napi_get_named_property(env, argv[1], "netnsPath", &p);
      if (!GetString(env, p, netnsPath, sizeof netnsPath, &plen)) {
        napi_throw_type_error(env, nullptr, "tun.node: open: netnsPath must be a string (< 256 bytes)");
        return nullptr;
      }
    }
  }
  int origNs = -1;
  if (netnsPath[0] != 0) {
    int target = open(netnsPath, O_RDONLY | O_CLOEXEC);
    if (target < 0) return ThrowErrno(env, errno, "open netns");
    origNs = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (origNs < 0) {
      int err = errno;
      ::close(target);
      return ThrowErrno(env, err, "open netns");
    }
    if (setns(target, CLONE_NEWNET) < 0) {
      int err = errno;
      ::close(target);
      ::close(origNs);
      return ThrowErrno(env, err, "setns");
    }
    ::close(target);
  }
  // Back to the caller's namespace (no-op without netnsPath); a failure here would leave the thread elsewhere.
  auto restore = [&]() {
    if (origNs >= 0) {
      if (setns(origNs, CLONE_NEWNET) < 0) abort();
      ::close(origNs);
      origNs = -1;
    }
  };

  int fd = open(devicePath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    restore();
    return ThrowErrno(env, err, "open");
  }

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, nameLen);  // nameLen < IFNAMSIZ: stays NUL-terminated
  int flags = (tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
  if (multiQueue) flags |= IFF_MULTI_QUEUE;
  if (vnetHdr) flags |= IFF_VNET_HDR;
  if (exclusive) flags |= IFF_TUN_EXCL;
  ifr.ifr_flags = static_cast<short>(flags);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    restore();
    return ThrowErrno(env, err, "TUNSETIFF");
  }
  // The device goes away with its last queue fd (a crashed agent leaves no stale pod ports behind).
  if (ioctl(fd, TUNSETPERSIST, 0) < 0) {
    int err = errno;
    ::close(fd);
    restore();
    return ThrowErrno(env, err, "TUNSETPERSIST");
  }
  restore();

  napi_value out, fdVal, nameVal;
  CHECK_NAPI(env, napi_create_object(env, &out));
  CHECK_NAPI(env, napi_create_int32(env, fd, &fdVal));
  CHECK_NAPI(env, napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &nameVal));
  napi_set_named_property(env, out, "fd", fdVal);
  napi_set_named_property(env, out, "name", nameVal);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// readBurst(fd, slab, offs, lens, max, cap, info) -> n | -errno

napi_value ReadBurst(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr));
  if (argc < 7) {
    napi_throw_type_error(env, nullptr, "tun.node: readBurst(fd, slab, offs, lens, max, cap, info)");
    return nullptr;
  }
  int32_t fd = -1, max = 0, cap = 0;
  uint8_t* slab;
  size_t slabLen, offsLen, lensLen, infoLen;
  int32_t *offs, *lens;
  double* info;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[4], &max) != napi_ok ||
      napi_get_value_int32(env, argv[5], &cap) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: readBurst: fd, max and cap must be numbers");
    return nullptr;
  }
  if (!GetSlab(env, argv[1], &slab, &slabLen) || !GetInt32Array(env, argv[2], &offs, &offsLen, "offs") ||
      !GetInt32Array(env, argv[3], &lens, &lensLen, "lens") ||
      !GetFloat64Array(env, argv[6], &info, &infoLen, "info"))
    return nullptr;
  if (max < 0 || static_cast<size_t>(max) > offsLen || static_cast<size_t>(max) > lensLen || cap <= 0 ||
      infoLen < 3) {
    napi_throw_range_error(env, nullptr, "tun.node: readBurst: max exceeds offs/lens, cap <= 0 or info too short");
    return nullptr;
  }
  for (int32_t i = 0; i < max; i++) {
    if (offs[i] < 0 || static_cast<size_t>(offs[i]) + static_cast<size_t>(cap) > slabLen) {
      napi_throw_range_error(env, nullptr, "tun.node: readBurst: offs[i] + cap is outside the slab");
      return nullptr;
    }
  }

  int32_t n = 0, truncated = 0, attempts = 0, result = 0;
  while (n < max && attempts < max) {
    ssize_t r = read(fd, slab + offs[n], static_cast<size_t>(cap));
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK && n == 0) result = -errno;
      break;
    }
    attempts++;
    if (r >= cap) {  // filled the slot: the packet may have been longer (the kernel drops the tail); drop it
      truncated++;
      continue;
    }
    if (r == 0) continue;
    lens[n++] = static_cast<int32_t>(r);
  }
  info[0] = truncated;
  if (n > 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    info[1] = static_cast<double>(ts.tv_sec);
    info[2] = static_cast<double>(ts.tv_nsec);
  }
  return Int(env, result < 0 ? result : n);
}

// ---------------------------------------------------------------------------------------------------------
// writeBurst(fd, slab, offs, lens, n, info) -> written

napi_value WriteBurst(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr));
  if (argc < 6) {
    napi_throw_type_error(env, nullptr, "tun.node: writeBurst(fd, slab, offs, lens, n, info)");
    return nullptr;
  }
  int32_t fd = -1, count = 0;
  uint8_t* slab;
  size_t slabLen, offsLen, lensLen, infoLen;
  int32_t *offs, *lens;
  double* info;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[4], &count) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: writeBurst: fd and n must be numbers");
    return nullptr;
  }
  if (!GetSlab(env, argv[1], &slab, &slabLen) || !GetInt32Array(env, argv[2], &offs, &offsLen, "offs") ||
      !GetInt32Array(env, argv[3], &lens, &lensLen, "lens") ||
      !GetFloat64Array(env, argv[5], &info, &infoLen, "info"))
    return nullptr;
  if (count < 0 || static_cast<size_t>(count) > offsLen || static_cast<size_t>(count) > lensLen || infoLen < 3) {
    napi_throw_range_error(env, nullptr, "tun.node: writeBurst: n exceeds offs/lens or info too short");
    return nullptr;
  }
  int32_t written = 0, failed = 0, lastErr = 0;
  double bytes = 0;
  for (int32_t i = 0; i < count; i++) {
    int32_t off = offs[i], len = lens[i];
    if (off < 0 || len <= 0 || static_cast<size_t>(off) + static_cast<size_t>(len) > slabLen) {
      failed++;  // a packet outside the slab is the caller's bug; never read past the slab for it
      lastErr = EFAULT;
      continue;
    }
    ssize_t r = write(fd, slab + off, static_cast<size_t>(len));
    if (r < 0) {
      if (errno == EINTR) {
        i--;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      failed++;
      lastErr = errno;
      if (errno == EBADF || errno == EBADFD) {  // no device behind the fd: the rest would fail the same way
        failed += count - 1 - i;
        break;
      }
      continue;
    }
    written++;
    bytes += static_cast<double>(r);
  }
  info[0] = failed;
  info[1] = lastErr;
  info[2] = bytes;
  return Int(env, written);
}

// ---------------------------------------------------------------------------------------------------------
// Readiness: uv_poll_t per fd, tracked per environment so pollStop is idempotent and a worker's teardown closes
// what its JavaScript forgot.

struct Poll {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int32_t id;
};

struct Instance {
  int32_t nextId = 1;
  std::unordered_map<int32_t, Poll*> polls;
};

void OnClosed(uv_handle_t* h) { delete static_cast<Poll*>(h->data); }

void OnPoll(uv_poll_t* h, int status, int /*events*/) {
  Poll* p = static_cast<Poll*>(h->data);
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  if (napi_get_reference_value(env, p->callback, &cb) == napi_ok && cb != nullptr) {
    napi_get_global(env, &recv);  // napi_make_callback converts the receiver to an object
    napi_create_int32(env, status, &arg);
    if (napi_make_callback(env, p->context, recv, cb, 1, &arg, &result) == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);  // the process's 'uncaughtException', as for any callback
    }
  }
  napi_close_handle_scope(env, scope);
}

// Stops and closes a poll; its memory is freed in the close callback.
void Release(Poll* p, bool deleteRefs) {
  uv_poll_stop(&p->handle);
  if (deleteRefs) {
    napi_delete_reference(p->env, p->callback);
    napi_async_destroy(p->env, p->context);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), OnClosed);
}

void Cleanup(void* arg) {
  Instance* inst = static_cast<Instance*>(arg);
  for (auto& kv : inst->polls) Release(kv.second, false);
  inst->polls.clear();
}

void FinalizeInstance(napi_env /*env*/, void* data, void* /*hint*/) { delete static_cast<Instance*>(data); }

Instance* GetInstance(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<Instance*>(data);
}

napi_value PollStart(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr));
  int32_t fd = -1;
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || t != napi_function) {
    napi_throw_type_error(env, nullptr, "tun.node: pollStart(fd, callback)");
    return nullptr;
  }
  uv_loop_t* loop = nullptr;
  CHECK_NAPI(env, napi_get_uv_event_loop(env, &loop));
  Instance* inst = GetInstance(env);
  Poll* p = new Poll();
  p->env = env;
  int err = uv_poll_init(loop, &p->handle, fd);
  if (err != 0) {
    delete p;
    return ThrowErrno(env, -err, "uv_poll_init");
  }
  p->handle.data = p;
  napi_value resourceName, resource;
  napi_create_string_utf8(env, "egress:tun-poll", NAPI_AUTO_LENGTH, &resourceName);
  napi_create_object(env, &resource);
  if (napi_create_reference(env, argv[1], 1, &p->callback) != napi_ok ||
      napi_async_init(env, resource, resourceName, &p->context) != napi_ok) {
    uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), OnClosed);
    ThrowLast(env, "pollStart");
    return nullptr;
  }
  err = uv_poll_start(&p->handle, UV_READABLE, OnPoll);
  if (err != 0) {
    Release(p, true);
    return ThrowErrno(env, -err, "uv_poll_start");
  }
  p->id = inst->nextId++;
  inst->polls[p->id] = p;
  return Int(env, p->id);
}

napi_value PollStop(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr));
  int32_t id = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: pollStop(id)");
    return nullptr;
  }
  Instance* inst = GetInstance(env);
  auto it = inst->polls.find(id);
  if (it != inst->polls.end()) {
    Poll* p = it->second;
    inst->polls.erase(it);
    Release(p, true);
  }
  return nullptr;
}

// close(fd) -> 0 | -errno
napi_value Close(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr));
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: close(fd)");
    return nullptr;
  }
  if (fd < 0) return Int(env, 0);
  return Int(env, ::close(fd) == 0 ? 0 : -errno);
}

}  // namespace

NAPI_MODULE_INIT() {
  Instance* inst = new Instance();
  if (napi_set_instance_data(env, inst, FinalizeInstance, nullptr) != napi_ok) {
    delete inst;
    return nullptr;
  }
  napi_add_env_cleanup_hook(env, Cleanup, inst);
  napi_property_descriptor props[] = {
      {"open", nullptr, Open, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"readBurst", nullptr, ReadBurst, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"writeBurst", nullptr, WriteBurst, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pollStart", nullptr, PollStart, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"pollStop", nullptr, PollStop, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setOffload", nullptr, SetOffload, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setVnetHdrSize", nullptr, SetVnetHdrSize, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"readBurstVnet", nullptr, ReadBurstVnet, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"writeBurstVnet", nullptr, WriteBurstVnet, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  RegisterUring(env, exports);
  return exports;
}
