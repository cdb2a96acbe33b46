// uring.cc: the io_uring backend of tun.node (`--io uring`): the same bursts as readBurst/writeBurst, moved
// through one io_uring per port instead of one read(2)/write(2) per packet. Built only when liburing is present
// (tun/build-addon.mjs probes for it and sets EGR_HAVE_URING); without it `uringBuilt` is false and none of the
// other functions exist. Contract:
//
//   uringBuilt: boolean
//   uringOpen(fd, nbufs, bufSize, out) -> ring (an external) or -errno
//       A ring with IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN (no SQPOLL thread: the kernel does the work
//       only when this thread asks, in the calls below), a provided-buffer ring of `nbufs` (a power of two)
//       buffers of `bufSize` bytes, and an eventfd registered with the ring (out[0]); a multishot read
//       (IORING_OP_READ_MULTISHOT, Linux 6.7+) on `fd` picks a buffer per packet. The eventfd is readable while
//       completions may be waiting: poll it like the device's fd (pollStart). The ring holds a reference to the
//       device's file: uringClose it before closing fd.
//   uringRead(ring, slab, offs, lens, max, cap, info) -> n >= 0, or -errno
//       readBurst's contract (packets into slab[offs[i] ..], lens[i], info[0] = dropped because they filled
//       `cap` or the buffer, info[1..2] = CLOCK_REALTIME once per burst): runs the ring's deferred work
//       (one io_uring_enter) and copies each completed packet from its provided buffer into the slab (one copy;
//       the buffer goes straight back to the kernel). When the burst is not full the eventfd is cleared and the
//       ring checked once more, so a packet that raced the clear is not left without a wake-up.
//   uringWrite(ring, slab, offs, lens, n, info) -> packets written
//       writeBurst's contract (info[0] = failed, info[1] = last errno, info[2] = bytes): one IORING_OP_WRITE per
//       packet with RWF_NOWAIT (a full queue is EAGAIN, as with write(2) on the O_NONBLOCK fd, never a write
//       left pending against a slot the caller frees), one io_uring_enter for the burst, and every write's
//       completion reaped before returning. `n - written - info[0]` packets met EAGAIN. The writes' completions
//       do not make the eventfd readable (a polled port would wake for nothing after each burst sent).
//   uringClose(ring): cancels the read, unregisters and frees everything; idempotent.

#define NAPI_VERSION 8
#include <node_api.h>

#include "uring.h"

#ifdef EGR_HAVE_URING

#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#ifndef IORING_OP_READ_MULTISHOT
#define IORING_OP_READ_MULTISHOT 49  // Linux 6.7; older liburing headers lack it
#endif
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

namespace {

constexpr uint64_t kReadTag = 1;
constexpr uint64_t kWriteBase = 2;
constexpr unsigned kSqEntries = 256;
constexpr int32_t kMaxWrite = 1024;

struct Event {
  int32_t res;
  uint32_t flags;
};

struct Ring {
  io_uring ring;
  bool open = false;
  int fd = -1;
  int efd = -1;
  io_uring_buf_ring* br = nullptr;
  size_t brBytes = 0;
  uint8_t* bufs = nullptr;
  size_t bufsBytes = 0;
  uint32_t nbufs = 0;
  uint32_t bufSize = 0;
  int mask = 0;
  bool armed = false;
  // Read completions taken off the CQ but not yet handed to JavaScript (in arrival order).
  Event* stash = nullptr;
  uint32_t stashCap = 0, stashHead = 0, stashCount = 0;
  int32_t wres[kMaxWrite];
};

void Destroy(Ring* r) {
  if (r->open) {
    // Cancel the read and wait for its last completion, then unregister the device's file: each step done
    // here, so that the device's last reference goes before this returns (io_uring_queue_exit alone tears the
    // ring down in a kernel worker, later, and the device would outlive the port for a while).
    if (r->armed) {
      io_uring_sqe* sqe = io_uring_get_sqe(&r->ring);
      if (sqe) {
        io_uring_prep_cancel64(sqe, kReadTag, 0);
        io_uring_sqe_set_data64(sqe, 0);
        io_uring_submit(&r->ring);
      }
      for (int i = 0; i < 100 && r->armed; i++) {
        io_uring_cqe* cqe;
        __kernel_timespec ts = {0, 10 * 1000 * 1000};
        if (io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts) == -ETIME) continue;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&r->ring, head, cqe) {
          if (io_uring_cqe_get_data64(cqe) == kReadTag && !(cqe->flags & IORING_CQE_F_MORE)) r->armed = false;
          seen++;
        }
        io_uring_cq_advance(&r->ring, seen);
      }
    }
    io_uring_unregister_files(&r->ring);
    io_uring_queue_exit(&r->ring);
    r->open = false;
  }
  if (r->efd >= 0) ::close(r->efd);
  r->efd = -1;
  if (r->br) munmap(r->br, r->brBytes);
  r->br = nullptr;
  if (r->bufs) munmap(r->bufs, r->bufsBytes);
  r->bufs = nullptr;
  free(r->stash);
  r->stash = nullptr;
}

void Finalize(napi_env /*env*/, void* data, void* /*hint*/) {
  Ring* r = static_cast<Ring*>(data);
  Destroy(r);
  delete r;
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

bool GetRing(napi_env env, napi_value v, Ring** out) {
  void* p = nullptr;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: ring must come from uringOpen");
    return false;
  }
  *out = static_cast<Ring*>(p);
  return true;
}

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

bool GetFloat64Array(napi_env env, napi_value v, double** data, size_t* length) {
  napi_typedarray_type type;
  void* ptr = nullptr;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, nullptr, nullptr) == napi_ok &&
      type == napi_float64_array) {
    *data = static_cast<double*>(ptr);
    return true;
  }
  napi_throw_type_error(env, nullptr, "tun.node: info must be a Float64Array");
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

// Queues the multishot read (submitted by the next io_uring_enter).
bool Arm(Ring* r) {
  io_uring_sqe* sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) return false;
  io_uring_prep_rw(IORING_OP_READ_MULTISHOT, sqe, 0, nullptr, 0, 0);  // fixed file 0; len 0: the buffer's size
  sqe->flags |= IOSQE_BUFFER_SELECT | IOSQE_FIXED_FILE;
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, kReadTag);
  r->armed = true;
  return true;
}

// Moves read completions from the CQ to the stash; write completions go to wres (index user_data - kWriteBase).
// Returns how many write completions were seen.
int32_t Drain(Ring* r) {
  int32_t writes = 0;
  io_uring_cqe* cqe;
  unsigned head, seen = 0;
  io_uring_for_each_cqe(&r->ring, head, cqe) {
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    if (ud >= kWriteBase) {
      uint64_t i = ud - kWriteBase;
      if (i < static_cast<uint64_t>(kMaxWrite)) r->wres[i] = cqe->res;
      writes++;
    } else if (ud == kReadTag) {
      if (!(cqe->flags & IORING_CQE_F_MORE)) r->armed = false;
      if (r->stashCount < r->stashCap) {
        uint32_t at = (r->stashHead + r->stashCount) % r->stashCap;
        r->stash[at] = Event{cqe->res, cqe->flags};
        r->stashCount++;
      } else if (cqe->flags & IORING_CQE_F_BUFFER) {
        // Cannot happen (each buffered completion holds one of nbufs buffers, the stash has room for all of
        // them); if it did, give the buffer back rather than lose it.
        uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        io_uring_buf_ring_add(r->br, r->bufs + static_cast<size_t>(bid) * r->bufSize, r->bufSize, bid, r->mask, 0);
        io_uring_buf_ring_advance(r->br, 1);
      }
    }
    seen++;
  }
  io_uring_cq_advance(&r->ring, seen);
  return writes;
}

// ---------------------------------------------------------------------------------------------------------

napi_value UringOpen(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr) != napi_ok || argc < 4) {
    napi_throw_type_error(env, nullptr, "tun.node: uringOpen(fd, nbufs, bufSize, out)");
    return nullptr;
  }
  int32_t fd = -1, nbufs = 0, bufSize = 0;
  int32_t* out;
  size_t outLen;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &nbufs) != napi_ok ||
      napi_get_value_int32(env, argv[2], &bufSize) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: uringOpen: fd, nbufs and bufSize must be numbers");
    return nullptr;
  }
  if (!GetInt32Array(env, argv[3], &out, &outLen, "out")) return nullptr;
  if (fd < 0 || nbufs < 1 || nbufs > 32768 || (nbufs & (nbufs - 1)) != 0 || bufSize < 64 || bufSize > 65536 ||
      outLen < 1) {
    napi_throw_range_error(env, nullptr, "tun.node: uringOpen: nbufs must be a power of two <= 32768, bufSize 64..65536");
    return nullptr;
  }

  Ring* r = new Ring();
  r->fd = fd;
  r->nbufs = static_cast<uint32_t>(nbufs);
  r->bufSize = static_cast<uint32_t>(bufSize);
  r->mask = io_uring_buf_ring_mask(r->nbufs);
  auto fail = [&](int err) -> napi_value {
    Destroy(r);
    delete r;
    return Int(env, -err);
  };

  io_uring_params p;
  memset(&p, 0, sizeof p);
  // TASKRUN_FLAG: the kernel sets IORING_SQ_TASKRUN when work is queued for us (see UringWrite).
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_CQSIZE;
  p.cq_entries = 2 * r->nbufs + 2 * kMaxWrite;
  int ret = io_uring_queue_init_params(kSqEntries, &r->ring, &p);
  if (ret < 0) return fail(-ret);
  r->open = true;

  r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->efd < 0) return fail(errno);
  ret = io_uring_register_eventfd(&r->ring, r->efd);
  if (ret < 0) return fail(-ret);
  // The device as fixed file 0: no file reference taken and dropped per request.
  ret = io_uring_register_files(&r->ring, &fd, 1);
  if (ret < 0) return fail(-ret);

  r->brBytes = sizeof(io_uring_buf) * r->nbufs;
  void* br = mmap(nullptr, r->brBytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED) return fail(errno);
  r->br = static_cast<io_uring_buf_ring*>(br);
  io_uring_buf_ring_init(r->br);
  io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = reinterpret_cast<uint64_t>(r->br);
  reg.ring_entries = r->nbufs;
  reg.bgid = 0;
  ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
  if (ret < 0) return fail(-ret);

  r->bufsBytes = static_cast<size_t>(r->nbufs) * r->bufSize;
  void* bufs = mmap(nullptr, r->bufsBytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (bufs == MAP_FAILED) return fail(errno);
  r->bufs = static_cast<uint8_t*>(bufs);
  for (uint32_t i = 0; i < r->nbufs; i++)
    io_uring_buf_ring_add(r->br, r->bufs + static_cast<size_t>(i) * r->bufSize, r->bufSize, i, r->mask, i);
  io_uring_buf_ring_advance(r->br, r->nbufs);

  r->stashCap = r->nbufs + 64;
  r->stash = static_cast<Event*>(calloc(r->stashCap, sizeof(Event)));
  if (!r->stash) return fail(ENOMEM);

  // Arm and submit now, so that an unsupported opcode (a kernel before 6.7) fails here, with a clear error.
  Arm(r);
  ret = io_uring_submit_and_get_events(&r->ring);
  if (ret < 0) return fail(-ret);
  Drain(r);
  if (r->stashCount > 0 && r->stash[r->stashHead].res < 0 && !r->armed) {
    int err = -r->stash[r->stashHead].res;
    if (err == EINVAL || err == EOPNOTSUPP) return fail(err);
  }

  out[0] = r->efd;
  napi_value ext;
  if (napi_create_external(env, r, Finalize, nullptr, &ext) != napi_ok) return fail(ENOMEM);
  return ext;
}

napi_value UringRead(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr) != napi_ok || argc < 7) {
    napi_throw_type_error(env, nullptr, "tun.node: uringRead(ring, slab, offs, lens, max, cap, info)");
    return nullptr;
  }
  Ring* r;
  int32_t max = 0, cap = 0;
  uint8_t* slab;
  size_t slabLen, offsLen, lensLen, infoLen;
  int32_t *offs, *lens;
  double* info;
  if (!GetRing(env, argv[0], &r)) return nullptr;
  if (napi_get_value_int32(env, argv[4], &max) != napi_ok || napi_get_value_int32(env, argv[5], &cap) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: uringRead: max and cap must be numbers");
    return nullptr;
  }
  if (!GetSlab(env, argv[1], &slab, &slabLen) || !GetInt32Array(env, argv[2], &offs, &offsLen, "offs") ||
      !GetInt32Array(env, argv[3], &lens, &lensLen, "lens") || !GetFloat64Array(env, argv[6], &info, &infoLen))
    return nullptr;
  if (max < 0 || static_cast<size_t>(max) > offsLen || static_cast<size_t>(max) > lensLen || cap <= 0 ||
      infoLen < 3) {
    napi_throw_range_error(env, nullptr, "tun.node: uringRead: max exceeds offs/lens, cap <= 0 or info too short");
    return nullptr;
  }
  for (int32_t i = 0; i < max; i++) {
    if (offs[i] < 0 || static_cast<size_t>(offs[i]) + static_cast<size_t>(cap) > slabLen) {
      napi_throw_range_error(env, nullptr, "tun.node: uringRead: offs[i] + cap is outside the slab");
      return nullptr;
    }
  }
  info[0] = 0;
  if (!r->open) return Int(env, -EBADF);

  const uint32_t limit = static_cast<uint32_t>(cap) < r->bufSize ? static_cast<uint32_t>(cap) : r->bufSize;
  int32_t n = 0, truncated = 0, attempts = 0, result = 0, returned = 0;
  bool cleared = false;
  for (;;) {
    // Enter the kernel only when the stash and the CQ cannot fill the burst: it runs the deferred work (the
    // multishot read reads what the device queued) and submits a re-arm. A read that ran out of buffers
    // (ENOBUFS) is re-armed only then too, when most buffers are back (at most a burst is out), not once
    // per buffer returned.
    uint32_t have = r->stashCount + io_uring_cq_ready(&r->ring);
    if (have < static_cast<uint32_t>(max - n)) {
      if (!r->armed) Arm(r);
      int ret = io_uring_submit_and_get_events(&r->ring);
      if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
        if (n == 0) result = ret;
        break;
      }
    }
    Drain(r);
    bool failed = false;
    while (r->stashCount > 0 && n < max && attempts < max) {
      Event ev = r->stash[r->stashHead];
      r->stashHead = (r->stashHead + 1) % r->stashCap;
      r->stashCount--;
      if (ev.res < 0) {
        if (ev.res == -ENOBUFS || ev.res == -EINTR || ev.res == -EAGAIN) continue;  // re-armed on the next enter
        if (n == 0) result = ev.res;
        failed = true;
        break;
      }
      if (!(ev.flags & IORING_CQE_F_BUFFER)) continue;
      uint32_t bid = ev.flags >> IORING_CQE_BUFFER_SHIFT;
      uint8_t* buf = r->bufs + static_cast<size_t>(bid) * r->bufSize;
      attempts++;
      uint32_t len = static_cast<uint32_t>(ev.res);
      if (len >= limit) {
        truncated++;  // filled the slot (or the buffer): the kernel may have cut it
      } else if (len > 0) {
        memcpy(slab + offs[n], buf, len);
        lens[n++] = static_cast<int32_t>(len);
      }
      io_uring_buf_ring_add(r->br, buf, r->bufSize, bid, r->mask, returned++);
    }
    if (returned > 0) {
      io_uring_buf_ring_advance(r->br, returned);
      returned = 0;
    }
    if (failed || result < 0 || n >= max || attempts >= max || cleared) break;
    // Not full: the device's queue looks empty. Clear the eventfd, then look once more, so that work which
    // arrived just before the clear is picked up here instead of waiting for a wake-up that already happened.
    uint64_t v;
    if (read(r->efd, &v, sizeof v) < 0) { /* EAGAIN: it was clear */ }
    cleared = true;
  }
  // Completions left over after a clear: make sure the poll fires for them.
  if (cleared && (r->stashCount > 0 || io_uring_cq_ready(&r->ring) > 0)) eventfd_write(r->efd, 1);
  info[0] = truncated;
  if (n > 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    info[1] = static_cast<double>(ts.tv_sec);
    info[2] = static_cast<double>(ts.tv_nsec);
  }
  return Int(env, result < 0 ? result : n);
}

napi_value UringWrite(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr) != napi_ok || argc < 6) {
    napi_throw_type_error(env, nullptr, "tun.node: uringWrite(ring, slab, offs, lens, n, info)");
    return nullptr;
  }
  Ring* r;
  int32_t count = 0;
  uint8_t* slab;
  size_t slabLen, offsLen, lensLen, infoLen;
  int32_t *offs, *lens;
  double* info;
  if (!GetRing(env, argv[0], &r)) return nullptr;
  if (napi_get_value_int32(env, argv[4], &count) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: uringWrite: n must be a number");
    return nullptr;
  }
  if (!GetSlab(env, argv[1], &slab, &slabLen) || !GetInt32Array(env, argv[2], &offs, &offsLen, "offs") ||
      !GetInt32Array(env, argv[3], &lens, &lensLen, "lens") || !GetFloat64Array(env, argv[5], &info, &infoLen))
    return nullptr;
  if (count < 0 || count > kMaxWrite || static_cast<size_t>(count) > offsLen ||
      static_cast<size_t>(count) > lensLen || infoLen < 3) {
    napi_throw_range_error(env, nullptr, "tun.node: uringWrite: n exceeds offs/lens (or 1024), or info too short");
    return nullptr;
  }
  int32_t written = 0, failed = 0, lastErr = 0;
  double bytes = 0;
  if (!r->open) {
    info[0] = count;
    info[1] = EBADF;
    info[2] = 0;
    return Int(env, 0);
  }
  int32_t outstanding = 0;
  for (int32_t i = 0; i < count; i++) {
    int32_t off = offs[i], len = lens[i];
    if (off < 0 || len <= 0 || static_cast<size_t>(off) + static_cast<size_t>(len) > slabLen) {
      r->wres[i] = -EFAULT;  // a packet outside the slab is the caller's bug; never read past the slab for it
      continue;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) {  // more packets than SQ entries: submit what is queued and go on
      io_uring_submit(&r->ring);
      sqe = io_uring_get_sqe(&r->ring);
      if (!sqe) {
        r->wres[i] = -EBUSY;
        continue;
      }
    }
    io_uring_prep_write(sqe, 0, slab + off, static_cast<unsigned>(len), 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    sqe->rw_flags = RWF_NOWAIT;
    io_uring_sqe_set_data64(sqe, kWriteBase + static_cast<uint64_t>(i));
    outstanding++;
  }
  if (outstanding > 0) {
    // The writes' own completions need no wake-up (they are reaped right here, and a port that is polled would
    // otherwise wake once per burst written to it, for nothing): the eventfd is muted while they post, then
    // signalled only if read work came in meanwhile (IORING_SQ_TASKRUN) or read completions were taken off the
    // CQ with the writes.
    uint32_t stashed = r->stashCount;
    io_uring_cq_eventfd_toggle(&r->ring, false);
    int ret = io_uring_submit(&r->ring);
    (void)ret;
    // TUN/TAP writes complete during the submit (RWF_NOWAIT: no poll, no worker), so one pass over the CQ
    // normally finds them all; otherwise wait, since the slots are freed as soon as this returns.
    outstanding -= Drain(r);
    while (outstanding > 0) {
      io_uring_cqe* cqe;
      int w = io_uring_wait_cqe(&r->ring, &cqe);
      if (w < 0 && w != -EINTR && w != -EAGAIN) break;
      outstanding -= Drain(r);
    }
    io_uring_cq_eventfd_toggle(&r->ring, true);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  // unmute, then look at the flag (the kernel: flag, then mute check)
    if (r->stashCount > stashed || (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN))
      eventfd_write(r->efd, 1);
  }
  for (int32_t i = 0; i < count; i++) {
    int32_t res = r->wres[i];
    if (res >= 0) {
      written++;
      bytes += static_cast<double>(res);
    } else if (res != -EAGAIN) {
      failed++;
      lastErr = -res;
    }
  }
  info[0] = failed;
  info[1] = lastErr;
  info[2] = bytes;
  return Int(env, written);
}

napi_value UringClose(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  Ring* r;
  if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      !GetRing(env, argv[0], &r))
    return nullptr;
  Destroy(r);
  return nullptr;
}

}  // namespace

void RegisterUring(napi_env env, napi_value exports) {
  napi_value built;
  napi_get_boolean(env, true, &built);
  napi_property_descriptor props[] = {
      {"uringBuilt", nullptr, nullptr, nullptr, nullptr, built, napi_enumerable, nullptr},
      {"uringOpen", nullptr, UringOpen, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"uringRead", nullptr, UringRead, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"uringWrite", nullptr, UringWrite, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"uringClose", nullptr, UringClose, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

#else  // no liburing on the build host

void RegisterUring(napi_env env, napi_value exports) {
  napi_value built;
  napi_get_boolean(env, false, &built);
  napi_set_named_property(env, exports, "uringBuilt", built);
}

#endif
