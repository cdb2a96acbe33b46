// vnet.cc: the offload half of tun.node. A TUN/TAP opened with IFF_VNET_HDR carries a 10-byte struct
// virtio_net_hdr (host byte order) before every packet; TUNSETOFFLOAD tells the kernel what the reader accepts:
// with TUN_F_CSUM it may hand over packets whose L4 checksum is only the pseudo-header sum (CHECKSUM_PARTIAL,
// flag NEEDS_CSUM), with TUN_F_TSO4 / TUN_F_USO4|USO6 whole GSO "super-packets" of up to 64 KiB that one TCP or
// UDP send produced, to be cut into gso_size segments later (wireguard-go tun/offload_linux.go does the same for
// its TUN). Writes with a GSO header are segmented by the kernel (or not at all, when the next device accepts
// GSO: a veth, a bridge, the local TCP stack).
//
// The engine's packets are slab slots of ~2 KiB, so a super-packet does not travel through the pipeline:
// readBurstVnet puts its head in the slot and the rest in a "jumbo" buffer, and turns the head into a *probe*,
// a real first segment (IP total length, IP checksum, UDP length and a full L4 checksum fixed), which the
// pipeline processes like any packet (spoofguard, classify, SNAT, conntrack, neighbour, Ethernet). The port that
// sends the probe gets (from tun/offload.ts) where the rest of the payload is, and writeBurstVnet writes the
// whole super-packet with the probe's rewritten headers: one system call for up to 44 segments each way.
//
//   setOffload(fd, flags) -> 0 | -errno                                             TUNSETOFFLOAD
//   readBurstVnet(fd, slab, offs, lens, max, cap, info, meta, jumbo, jumboOffs, jumboCap) -> n | -errno
//       As readBurst, with readv(vnet header, slot[cap], jumbo[jumboOffs[i], jumboCap]) for read i. Plain
//       packets whose checksum is partial get it completed here. Output k: lens[k] (the probe's length for a
//       super-packet) and meta[8k .. 8k+7] = [gsoType (0: plain), gsoSize, hlen (IPv4 + L4 header bytes),
//       total (IP length of the whole super-packet), inSlot, inJumbo, read index i (its jumbo area), 0].
//       info[0] = packets dropped because they filled the buffers, info[3] = packets dropped for a vnet
//       header or layout this code does not take (counted, never forwarded half).
//   writeBurstVnet(fd, slab, offs, lens, n, info, meta, jumbo) -> written
//       meta[8i .. 8i+7] = [gsoType (0: plain, room for the vnet header before off; -1: plain, no room), gsoSize,
//       l3 (offset of the segments' IPv4 header in the frame), hlen, payload offset in the slab, its length,
//       tail offset in jumbo, its length]. A super-packet whose IPv4 header starts the frame (TUN) or follows a
//       plain Ethernet header (TAP) is written as one GSO write; any other layout (Geneve around it: this kernel
//       takes no UDP-tunnel GSO from us yet) is segmented here, like tcp_gso_segment, and written segment by
//       segment. info = [failed, lastErrno, bytes, segments written by the software path].
//
// Checksums: RFC 1071 sums over native-endian 16-bit words folded and byte-swapped at the end (RFC 1071 §2(B)).

#include "vnet.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

namespace {

struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHdr) == 10, "struct virtio_net_hdr is 10 bytes");

constexpr uint8_t F_NEEDS_CSUM = 1;
constexpr uint8_t GSO_NONE = 0;
constexpr uint8_t GSO_TCPV4 = 1;
constexpr uint8_t GSO_UDP_L4 = 5;
constexpr uint8_t GSO_ECN = 0x80;
constexpr int META = 8;

// ---- checksums ---------------------------------------------------------------------------------------------

// Adds bytes to a running one's-complement sum of big-endian 16-bit words; `odd` says whether an odd number of
// bytes came before (then p[0] is the low byte of a word). Returns the new parity.
bool SumBytes(const uint8_t* p, size_t n, uint64_t* acc, bool odd) {
  uint64_t s = *acc;
  if (odd && n > 0) {
    s += p[0];
    p++;
    n--;
    odd = false;
  }
  while (n >= 8) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    // Native-endian words summed, swapped at the end: accumulate swapped here to keep big-endian order.
    s += __builtin_bswap32(a);
    s += __builtin_bswap32(b);
    p += 8;
    n -= 8;
  }
  while (n >= 2) {
    s += static_cast<uint32_t>(p[0]) << 8 | p[1];
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    s += static_cast<uint32_t>(p[0]) << 8;
    odd = true;
  }
  *acc = s;
  return odd;
}

uint16_t Fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

inline uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}

void IpChecksum(uint8_t* ip) {
  int ihl = (ip[0] & 0x0f) * 4;
  ip[10] = ip[11] = 0;
  uint64_t s = 0;
  SumBytes(ip, static_cast<size_t>(ihl), &s, false);
  Put16(ip + 10, static_cast<uint16_t>(~Fold(s)));
}

// Pseudo-header sum (RFC 793 / 768) of an IPv4 header for an L4 length.
uint64_t Pseudo(const uint8_t* ip, uint32_t l4len) {
  uint64_t s = 0;
  SumBytes(ip + 12, 8, &s, false);
  s += ip[9];
  s += l4len;
  return s;
}

// ---- argument helpers (the same conventions as tun.cc) -----------------------------------------------------

bool Arr(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* len, const char* what) {
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, len, data, nullptr, nullptr) == napi_ok && type == want) return true;
  char msg[128];
  snprintf(msg, sizeof msg, "tun.node: %s has the wrong type", what);
  napi_throw_type_error(env, nullptr, msg);
  return false;
}

bool Buf(napi_env env, napi_value v, uint8_t** data, size_t* len, const char* what) {
  void* p = nullptr;
  if (napi_get_arraybuffer_info(env, v, &p, len) == napi_ok) {
    *data = static_cast<uint8_t*>(p);
    return true;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "tun.node: %s must be an ArrayBuffer", what);
  napi_throw_type_error(env, nullptr, msg);
  return false;
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

// ---- reading -------------------------------------------------------------------------------------------------

// Completes a partial L4 checksum in place (the field holds the pseudo-header sum): false when the header's
// offsets do not fit the packet.
bool CompleteChecksum(uint8_t* pkt, size_t n, const VnetHdr& h) {
  size_t start = h.csum_start, field = start + h.csum_offset;
  if (start >= n || field + 2 > n) return false;
  uint64_t s = 0;
  SumBytes(pkt + start, n - start, &s, false);
  uint16_t c = static_cast<uint16_t>(~Fold(s));
  if (c == 0 && h.csum_offset == 6) c = 0xffff;  // UDP: 0 means "no checksum"
  Put16(pkt + field, c);
  return true;
}

// Turns the head of a super-packet (IPv4 at pkt) into its first segment; returns the probe's length or 0 when
// the layout is not one this code handles. hlen: IPv4 + L4 header bytes.
size_t MakeProbe(uint8_t* pkt, size_t inSlot, size_t total, const VnetHdr& h, size_t* hlenOut) {
  if (inSlot < 20 || (pkt[0] >> 4) != 4) return 0;
  size_t ihl = (pkt[0] & 0x0f) * 4u;
  if (ihl < 20 || ihl + 8 > inSlot) return 0;
  uint8_t proto = pkt[9];
  uint8_t type = h.gso_type & static_cast<uint8_t>(~GSO_ECN);
  size_t l4h;
  if (type == GSO_TCPV4 && proto == 6) {
    if (ihl + 20 > inSlot) return 0;
    l4h = (pkt[ihl + 12] >> 4) * 4u;
    if (l4h < 20) return 0;
  } else if (type == GSO_UDP_L4 && proto == 17) {
    l4h = 8;
  } else {
    return 0;
  }
  size_t hlen = ihl + l4h;
  size_t mss = h.gso_size;
  if (mss == 0 || hlen >= total) return 0;
  size_t seg = total - hlen < mss ? total - hlen : mss;
  if (hlen + seg > inSlot) return 0;
  Put16(pkt + 2, static_cast<uint16_t>(hlen + seg));
  IpChecksum(pkt);
  uint8_t* l4 = pkt + ihl;
  size_t field = proto == 6 ? 16 : 6;
  if (proto == 17) Put16(l4 + 4, static_cast<uint16_t>(8 + seg));
  l4[field] = l4[field + 1] = 0;
  uint64_t s = Pseudo(pkt, static_cast<uint32_t>(l4h + seg));
  SumBytes(l4, l4h + seg, &s, false);
  uint16_t c = static_cast<uint16_t>(~Fold(s));
  if (c == 0 && proto == 17) c = 0xffff;
  Put16(l4 + field, c);
  *hlenOut = hlen;
  return hlen + seg;
}

}  // namespace

napi_value SetOffload(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  int32_t fd = -1, flags = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &flags) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: setOffload(fd, flags)");
    return nullptr;
  }
  return Int(env, ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) < 0 ? -errno : 0);
}

napi_value ReadBurstVnet(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 11;
  napi_value argv[11];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  if (argc < 11) {
    napi_throw_type_error(env, nullptr,
                          "tun.node: readBurstVnet(fd, slab, offs, lens, max, cap, info, meta, jumbo, jumboOffs, jumboCap)");
    return nullptr;
  }
  int32_t fd = -1, max = 0, cap = 0, jumboCap = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[4], &max) != napi_ok ||
      napi_get_value_int32(env, argv[5], &cap) != napi_ok || napi_get_value_int32(env, argv[10], &jumboCap) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: readBurstVnet: fd, max, cap and jumboCap must be numbers");
    return nullptr;
  }
  uint8_t *slab, *jumbo;
  size_t slabLen, jumboLen, offsLen, lensLen, infoLen, metaLen, joLen;
  void *offsP, *lensP, *infoP, *metaP, *joP;
  if (!Buf(env, argv[1], &slab, &slabLen, "slab") ||
      !Arr(env, argv[2], napi_int32_array, &offsP, &offsLen, "offs") ||
      !Arr(env, argv[3], napi_int32_array, &lensP, &lensLen, "lens") ||
      !Arr(env, argv[6], napi_float64_array, &infoP, &infoLen, "info") ||
      !Arr(env, argv[7], napi_int32_array, &metaP, &metaLen, "meta") || !Buf(env, argv[8], &jumbo, &jumboLen, "jumbo") ||
      !Arr(env, argv[9], napi_int32_array, &joP, &joLen, "jumboOffs"))
    return nullptr;
  int32_t* offs = static_cast<int32_t*>(offsP);
  int32_t* lens = static_cast<int32_t*>(lensP);
  double* info = static_cast<double*>(infoP);
  int32_t* meta = static_cast<int32_t*>(metaP);
  int32_t* jo = static_cast<int32_t*>(joP);
  if (max < 0 || static_cast<size_t>(max) > offsLen || static_cast<size_t>(max) > lensLen ||
      static_cast<size_t>(max) > joLen || static_cast<size_t>(max) * META > metaLen || cap <= 0 || jumboCap < 0 ||
      infoLen < 4) {
    napi_throw_range_error(env, nullptr, "tun.node: readBurstVnet: sizes do not fit");
    return nullptr;
  }
  for (int32_t i = 0; i < max; i++) {
    if (offs[i] < 0 || static_cast<size_t>(offs[i]) + static_cast<size_t>(cap) > slabLen || jo[i] < 0 ||
        static_cast<size_t>(jo[i]) + static_cast<size_t>(jumboCap) > jumboLen) {
      napi_throw_range_error(env, nullptr, "tun.node: readBurstVnet: a buffer is outside its ArrayBuffer");
      return nullptr;
    }
  }
  int32_t n = 0, truncated = 0, bad = 0, attempts = 0, result = 0;
  while (n < max && attempts < max) {
    VnetHdr h;
    uint8_t* pkt = slab + offs[n];
    struct iovec iov[3] = {{&h, sizeof h}, {pkt, static_cast<size_t>(cap)}, {jumbo + jo[n], static_cast<size_t>(jumboCap)}};
    ssize_t r = readv(fd, iov, jumboCap > 0 ? 3 : 2);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK && n == 0) result = -errno;
      break;
    }
    attempts++;
    if (r <= static_cast<ssize_t>(sizeof h)) continue;
    size_t total = static_cast<size_t>(r) - sizeof h;
    if (total >= static_cast<size_t>(cap) + static_cast<size_t>(jumboCap)) {  // filled every buffer: maybe cut
      truncated++;
      continue;
    }
    size_t inSlot = total < static_cast<size_t>(cap) ? total : static_cast<size_t>(cap);
    int32_t* m = meta + static_cast<size_t>(n) * META;
    if (h.gso_type == GSO_NONE) {
      if (total >= static_cast<size_t>(cap) || ((h.flags & F_NEEDS_CSUM) && !CompleteChecksum(pkt, total, h))) {
        bad++;
        continue;
      }
      lens[n] = static_cast<int32_t>(total);
      m[0] = 0;
      n++;
      continue;
    }
    size_t hlen = 0;
    size_t probe = MakeProbe(pkt, inSlot, total, h, &hlen);
    if (probe == 0) {
      bad++;
      continue;
    }
    lens[n] = static_cast<int32_t>(probe);
    m[0] = h.gso_type;
    m[1] = h.gso_size;
    m[2] = static_cast<int32_t>(hlen);
    m[3] = static_cast<int32_t>(total);
    m[4] = static_cast<int32_t>(inSlot);
    m[5] = static_cast<int32_t>(total - inSlot);
    m[6] = n;  // this read's jumbo area: jumboOffs[n] (reads fill outputs in order; a dropped read reuses it)
    m[7] = 0;
    n++;
  }
  info[0] = truncated;
  info[3] = bad;
  if (n > 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    info[1] = static_cast<double>(ts.tv_sec);
    info[2] = static_cast<double>(ts.tv_nsec);
  }
  return Int(env, result < 0 ? result : n);
}

// ---- writing -------------------------------------------------------------------------------------------------

namespace {

// The payload of a super-packet: a piece in the slot and a piece in the jumbo buffer.
struct Payload {
  const uint8_t* a;
  size_t alen;
  const uint8_t* b;
  size_t blen;
};

// iovecs for payload bytes [from, from+len); returns how many were used (at most 2).
int PayloadIov(const Payload& p, size_t from, size_t len, struct iovec* iov) {
  int k = 0;
  if (from < p.alen) {
    size_t take = p.alen - from < len ? p.alen - from : len;
    iov[k++] = {const_cast<uint8_t*>(p.a + from), take};
    len -= take;
    from = p.alen;
  }
  if (len > 0) iov[k++] = {const_cast<uint8_t*>(p.b + (from - p.alen)), len};
  return k;
}

ssize_t WriteV(int fd, struct iovec* iov, int cnt) {
  for (;;) {
    ssize_t r = writev(fd, iov, cnt);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

// Software GSO (tcp_gso_segment / __udp_gso_segment): the super-packet whose headers are hdr[0 .. l3+hlen) and
// payload `pay` (P bytes), cut into gso_size segments, each written with a plain vnet header. Returns segments
// written, or -errno of the first failure.
int32_t Segment(int fd, const uint8_t* hdr, size_t l3, size_t hlen, size_t mss, const Payload& pay, double* bytes) {
  uint8_t buf[512];
  size_t hl = l3 + hlen;
  if (hl > sizeof buf || mss == 0) return -EINVAL;
  const uint8_t* ip0 = hdr + l3;
  size_t ihl = (ip0[0] & 0x0f) * 4u;
  uint8_t proto = ip0[9];
  size_t P = pay.alen + pay.blen;
  size_t nseg = (P + mss - 1) / mss;
  uint16_t id0 = Get16(ip0 + 4);
  uint32_t seq0 = proto == 6 ? Get32(ip0 + ihl + 4) : 0;
  uint8_t flags0 = proto == 6 ? ip0[ihl + 13] : 0;
  // An outer IPv4 (+ UDP) before the inner header: a Geneve frame (Ethernet / IPv4 / UDP / Geneve / Ethernet).
  bool outer = l3 >= 14 + 20 + 8 && Get16(hdr + 12) == 0x0800 && (hdr[14] >> 4) == 4;
  size_t oihl = outer ? (hdr[14] & 0x0f) * 4u : 0;
  VnetHdr zero;
  memset(&zero, 0, sizeof zero);
  int32_t written = 0;
  for (size_t k = 0; k < nseg; k++) {
    size_t segLen = P - k * mss < mss ? P - k * mss : mss;
    memcpy(buf, hdr, hl);
    uint8_t* ip = buf + l3;
    uint8_t* l4 = ip + ihl;
    Put16(ip + 2, static_cast<uint16_t>(hlen + segLen));
    Put16(ip + 4, static_cast<uint16_t>(id0 + k));
    IpChecksum(ip);
    size_t field;
    if (proto == 6) {
      Put32(l4 + 4, seq0 + static_cast<uint32_t>(k * mss));
      uint8_t f = flags0;
      if (k + 1 < nseg) f &= static_cast<uint8_t>(~0x09);  // FIN, PSH only on the last segment
      if (k > 0) f &= static_cast<uint8_t>(~0x80);          // CWR only on the first
      l4[13] = f;
      field = 16;
    } else {
      Put16(l4 + 4, static_cast<uint16_t>(8 + segLen));
      field = 6;
    }
    struct iovec iov[4];
    iov[0] = {&zero, sizeof zero};
    iov[1] = {buf, hl};
    int pc = PayloadIov(pay, k * mss, segLen, iov + 2);
    l4[field] = l4[field + 1] = 0;
    size_t l4h = hlen - ihl;
    uint64_t s = Pseudo(ip, static_cast<uint32_t>(l4h + segLen));
    bool odd = SumBytes(l4, l4h, &s, false);
    for (int j = 0; j < pc; j++) odd = SumBytes(static_cast<uint8_t*>(iov[2 + j].iov_base), iov[2 + j].iov_len, &s, odd);
    uint16_t c = static_cast<uint16_t>(~Fold(s));
    if (c == 0 && proto == 17) c = 0xffff;
    Put16(l4 + field, c);
    if (outer) {
      uint8_t* oip = buf + 14;
      size_t otot = hl - 14 + segLen;
      Put16(oip + 2, static_cast<uint16_t>(otot));
      IpChecksum(oip);
      if (oip[9] == 17) {
        Put16(oip + oihl + 4, static_cast<uint16_t>(otot - oihl));
        Put16(oip + oihl + 6, 0);  // IPv4 UDP may omit its checksum (the engine's Geneve does)
      }
    }
    ssize_t r = WriteV(fd, iov, 2 + pc);
    if (r < 0) return written > 0 ? written : -errno;
    *bytes += static_cast<double>(r) - sizeof zero;
    written++;
  }
  return written;
}

}  // namespace

napi_value WriteBurstVnet(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  if (argc < 8) {
    napi_throw_type_error(env, nullptr, "tun.node: writeBurstVnet(fd, slab, offs, lens, n, info, meta, jumbo)");
    return nullptr;
  }
  int32_t fd = -1, count = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[4], &count) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: writeBurstVnet: fd and n must be numbers");
    return nullptr;
  }
  uint8_t *slab, *jumbo;
  size_t slabLen, jumboLen, offsLen, lensLen, infoLen, metaLen;
  void *offsP, *lensP, *infoP, *metaP;
  if (!Buf(env, argv[1], &slab, &slabLen, "slab") ||
      !Arr(env, argv[2], napi_int32_array, &offsP, &offsLen, "offs") ||
      !Arr(env, argv[3], napi_int32_array, &lensP, &lensLen, "lens") ||
      !Arr(env, argv[5], napi_float64_array, &infoP, &infoLen, "info") ||
      !Arr(env, argv[6], napi_int32_array, &metaP, &metaLen, "meta") || !Buf(env, argv[7], &jumbo, &jumboLen, "jumbo"))
    return nullptr;
  int32_t* offs = static_cast<int32_t*>(offsP);
  int32_t* lens = static_cast<int32_t*>(lensP);
  double* info = static_cast<double*>(infoP);
  int32_t* meta = static_cast<int32_t*>(metaP);
  if (count < 0 || static_cast<size_t>(count) > offsLen || static_cast<size_t>(count) > lensLen ||
      static_cast<size_t>(count) * META > metaLen || infoLen < 4) {
    napi_throw_range_error(env, nullptr, "tun.node: writeBurstVnet: n exceeds offs/lens/meta or info too short");
    return nullptr;
  }
  int32_t written = 0, failed = 0, lastErr = 0, soft = 0;
  double bytes = 0;
  VnetHdr zero;
  memset(&zero, 0, sizeof zero);
  for (int32_t i = 0; i < count; i++) {
    int32_t off = offs[i], len = lens[i];
    const int32_t* m = meta + static_cast<size_t>(i) * META;
    if (off < 0 || len <= 0 || static_cast<size_t>(off) + static_cast<size_t>(len) > slabLen) {
      failed++;
      lastErr = EFAULT;
      continue;
    }
    uint8_t* frame = slab + off;
    ssize_t r;
    if (m[0] <= 0) {  // plain: a zero vnet header in front (in the headroom when there is room)
      if (m[0] == 0 && off >= static_cast<int32_t>(sizeof zero)) {
        memset(frame - sizeof zero, 0, sizeof zero);
        do r = write(fd, frame - sizeof zero, static_cast<size_t>(len) + sizeof zero);
        while (r < 0 && errno == EINTR);
      } else {
        struct iovec iov[2] = {{&zero, sizeof zero}, {frame, static_cast<size_t>(len)}};
        r = WriteV(fd, iov, 2);
      }
      if (r >= 0) {
        written++;
        bytes += static_cast<double>(r) - sizeof zero;
        continue;
      }
    } else {
      size_t l3 = static_cast<size_t>(m[2]), hlen = static_cast<size_t>(m[3]);
      size_t payOff = static_cast<size_t>(m[4]), payLen = static_cast<size_t>(m[5]);
      size_t tailOff = static_cast<size_t>(m[6]), tailLen = static_cast<size_t>(m[7]);
      if (m[2] < 0 || m[3] < 28 || l3 + hlen > static_cast<size_t>(len) || payOff + payLen > slabLen ||
          tailOff + tailLen > jumboLen || m[4] < 0 || m[5] < 0 || m[6] < 0 || m[7] < 0) {
        failed++;
        lastErr = EINVAL;
        continue;
      }
      Payload pay = {slab + payOff, payLen, jumbo + tailOff, tailLen};
      size_t P = payLen + tailLen;
      uint8_t* ip = frame + l3;
      size_t ihl = (ip[0] & 0x0f) * 4u;
      uint8_t proto = ip[9];
      bool direct = l3 == 0 || (l3 == 14 && Get16(frame + 12) == 0x0800);
      if (direct) {
        // One GSO write: headers fixed for the whole super-packet, the L4 checksum left partial.
        Put16(ip + 2, static_cast<uint16_t>(hlen + P));
        IpChecksum(ip);
        uint8_t* l4 = ip + ihl;
        size_t field = proto == 6 ? 16 : 6;
        if (proto == 17) Put16(l4 + 4, static_cast<uint16_t>(8 + P));
        Put16(l4 + field, Fold(Pseudo(ip, static_cast<uint32_t>(hlen - ihl + P))));
        VnetHdr h;
        h.flags = F_NEEDS_CSUM;
        h.gso_type = static_cast<uint8_t>(m[0]);
        h.hdr_len = static_cast<uint16_t>(l3 + hlen);
        h.gso_size = static_cast<uint16_t>(m[1]);
        h.csum_start = static_cast<uint16_t>(l3 + ihl);
        h.csum_offset = static_cast<uint16_t>(field);
        struct iovec iov[4] = {{&h, sizeof h}, {frame, l3 + hlen}};
        int pc = PayloadIov(pay, 0, P, iov + 2);
        r = WriteV(fd, iov, 2 + pc);
        if (r >= 0) {
          written++;
          bytes += static_cast<double>(r) - sizeof h;
          continue;
        }
      } else {
        int32_t segs = Segment(fd, frame, l3, hlen, static_cast<size_t>(m[1]), pay, &bytes);
        if (segs > 0) {
          written++;
          soft += segs;
          continue;
        }
        errno = -segs;
        r = -1;
      }
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    failed++;
    lastErr = errno;
    if (errno == EBADF || errno == EBADFD) {
      failed += count - 1 - i;
      break;
    }
  }
  info[0] = failed;
  info[1] = lastErr;
  info[2] = bytes;
  info[3] = soft;
  return Int(env, written);
}
