/*
 * udpgen: the traffic source of the end-to-end benchmark. Runs inside a pod's network namespace and sends UDP
 * datagrams of one IPv4 length to DST, spread over FLOWS destination ports (DPORT .. DPORT+FLOWS-1, one flow
 * each), in sendmmsg bursts, paced to RATE packets/s (0: as fast as the stack takes them) for DURATION_MS.
 *
 *   udpgen DST DPORT FLOWS IPLEN RATE DURATION_MS [BURST]
 *
 * Pacing: a burst of BURST datagrams every BURST/RATE seconds on an absolute CLOCK_MONOTONIC schedule
 * (clock_nanosleep TIMER_ABSTIME); a schedule that falls more than 2 ms behind restarts from now instead of
 * bursting to catch up. The socket is unconnected (each message names its flow's destination), so 1 and 1000
 * flows cost the sender the same. IP_RECVERR makes local queue drops visible (ENOBUFS): they are counted and not
 * retried, and not counted as sent.
 *
 * Prints one line: sent=N enobufs=N errors=N elapsed_ns=N utime_us=N stime_us=N
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BURST 256

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 7 || argc > 8) {
    fprintf(stderr, "usage: udpgen DST DPORT FLOWS IPLEN RATE DURATION_MS [BURST]\n");
    return 2;
  }
  const char *dst = argv[1];
  int dport = atoi(argv[2]), flows = atoi(argv[3]), iplen = atoi(argv[4]);
  double rate = atof(argv[5]);
  long long duration_ns = atoll(argv[6]) * 1000000LL;
  int burst = argc == 8 ? atoi(argv[7]) : 32;
  if (flows < 1 || dport < 1 || dport + flows > 65536 || iplen < 28 || iplen > 65535 || rate < 0 || burst < 1 ||
      burst > MAX_BURST || duration_ns <= 0) {
    fprintf(stderr, "udpgen: bad arguments\n");
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) {
    perror("udpgen: socket");
    return 1;
  }
  int one = 1, sndbuf = 8 << 20;
  setsockopt(s, SOL_IP, IP_RECVERR, &one, sizeof one);
  if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  struct sockaddr_in *addrs = calloc((size_t)flows, sizeof *addrs);
  if (!addrs) return 1;
  for (int f = 0; f < flows; f++) {
    addrs[f].sin_family = AF_INET;
    addrs[f].sin_port = htons((unsigned short)(dport + f));
    if (inet_pton(AF_INET, dst, &addrs[f].sin_addr) != 1) {
      fprintf(stderr, "udpgen: bad address %s\n", dst);
      return 2;
    }
  }
  size_t plen = (size_t)iplen - 28;
  char *payload = calloc(plen ? plen : 1, 1);
  if (!payload) return 1;
  memcpy(payload, "egress-e2e-bench", plen < 16 ? plen : 16);

  struct mmsghdr msgs[MAX_BURST];
  struct iovec iov[MAX_BURST];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < MAX_BURST; i++) {
    iov[i].iov_base = payload;
    iov[i].iov_len = plen;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
  }

  long long sent = 0, enobufs = 0, errors = 0, flow = 0;
  long long t0 = now_ns(), end = t0 + duration_ns;
  double interval_ns = rate > 0 ? burst * 1e9 / rate : 0;
  double next = (double)t0;
  while (!stop) {
    long long t = now_ns();
    if (t >= end) break;
    if (rate > 0) {
      if ((double)t < next) {
        struct timespec ts;
        long long n = (long long)next;
        ts.tv_sec = n / 1000000000LL;
        ts.tv_nsec = n % 1000000000LL;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
      } else if ((double)t - next > 2e6) {
        next = (double)t;
      }
      next += interval_ns;
    }
    int k = burst;
    for (int i = 0; i < k; i++) {
      msgs[i].msg_hdr.msg_name = &addrs[flow];
      if (++flow == flows) flow = 0;
    }
    int off = 0;
    while (off < k) {
      int r = sendmmsg(s, msgs + off, (unsigned)(k - off), 0);
      if (r < 0) {
        if (errno == EINTR) {
          if (stop) break;
          continue;
        }
        if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED) {
          enobufs++;
          off++;  /* that message was not sent; go on with the rest */
          continue;
        }
        errors++;
        off++;
        continue;
      }
      sent += r;
      off += r;
    }
  }
  long long elapsed = now_ns() - t0;
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  printf("sent=%lld enobufs=%lld errors=%lld elapsed_ns=%lld utime_us=%lld stime_us=%lld\n", sent, enobufs, errors,
         elapsed, (long long)u.ru_utime.tv_sec * 1000000 + u.ru_utime.tv_usec,
         (long long)u.ru_stime.tv_sec * 1000000 + u.ru_stime.tv_usec);
  return 0;
}
