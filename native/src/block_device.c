/*
 * blockvault native addon: the few Linux block-device ioctls Node has no API for.
 *
 * Every export is synchronous and takes an already-open file descriptor:
 *   blockDeviceSize(fd)              BLKGETSIZE64  -> bytes (number)
 *   logicalSectorSize(fd)            BLKSSZGET     -> bytes (number)
 *   physicalSectorSize(fd)           BLKPBSZGET    -> bytes (number)
 *   zeroOut(fd, offset, length)      BLKZEROOUT    -> undefined
 *   discard(fd, offset, length)      BLKDISCARD    -> undefined
 *   supported                        true on Linux, false where the functions are stubs
 *
 * Offsets and lengths are numbers (safe integers) or bigints. BLKZEROOUT and BLKDISCARD need
 * both to be multiples of 512 (newer kernels: of the logical sector size); the kernel answers
 * EINVAL otherwise. A failed call throws an Error whose `code` is the errno name (ENOTTY,
 * EOPNOTSUPP, ...), `errno` the negated errno (as Node's own fs errors), `syscall` "ioctl" and
 * `request` the ioctl name. On other systems every function throws code "UNSUPPORTED".
 *
 * Only node_api.h is used: the binary is ABI-stable across Node versions.
 */
#include <node_api.h>

#include "aead_gcm.h"
#include "lz4_block.h"
#include "direct_io.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __linux__
#include <linux/fs.h>
#include <sys/ioctl.h>
#define BV_SUPPORTED 1
#else
#define BV_SUPPORTED 0
#endif

/* Largest integer a JS number holds exactly (2^53 - 1). */
#define BV_MAX_SAFE 9007199254740991.0

/* Returns true when an exception is pending (the caller returns NULL at once). */
static int bv_check(napi_env env, napi_status status) {
  if (status == napi_ok) return 0;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, "EINTERNAL",
                     info && info->error_message ? info->error_message : "Node-API call failed");
  }
  return 1;
}

#define BV_CALL(env, call)               \
  do {                                   \
    if (bv_check((env), (call))) return NULL; \
  } while (0)

#if BV_SUPPORTED

static const char *bv_errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case ERANGE: return "ERANGE";
    case ENOSYS: return "ENOSYS";
    case EOVERFLOW: return "EOVERFLOW";
#ifdef EOPNOTSUPP
    case EOPNOTSUPP: return "EOPNOTSUPP"; /* == ENOTSUP on Linux */
#endif
#if defined(ENOTSUP) && defined(EOPNOTSUPP) && ENOTSUP != EOPNOTSUPP
    case ENOTSUP: return "ENOTSUP";
#endif
#ifdef EREMOTEIO
    case EREMOTEIO: return "EREMOTEIO";
#endif
#ifdef ENOMEDIUM
    case ENOMEDIUM: return "ENOMEDIUM";
#endif
    default: return "EUNKNOWN";
  }
}

/* Throws an Error with code/errno/syscall/request set; always returns NULL. */
static napi_value bv_throw_errno(napi_env env, int err, const char *request, int fd) {
  const char *name = bv_errno_name(err);
  char msg[256];
  snprintf(msg, sizeof msg, "%s: ioctl %s on fd %d failed: %s", name, request, fd, strerror(err));
  napi_value code, message, error, value;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok) return NULL;
  if (napi_create_error(env, code, message, &error) != napi_ok) return NULL;
  if (napi_create_int32(env, -err, &value) == napi_ok)
    napi_set_named_property(env, error, "errno", value);
  if (napi_create_string_utf8(env, "ioctl", NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, error, "syscall", value);
  if (napi_create_string_utf8(env, request, NAPI_AUTO_LENGTH, &value) == napi_ok)
    napi_set_named_property(env, error, "request", value);
  if (napi_create_int32(env, fd, &value) == napi_ok)
    napi_set_named_property(env, error, "fd", value);
  napi_throw(env, error);
  return NULL;
}

/* Reads argv[index] as a file descriptor (a non-negative int32). */
static int bv_get_fd(napi_env env, napi_value *argv, size_t argc, size_t index, int *out) {
  napi_valuetype type = napi_undefined;
  if (index < argc) napi_typeof(env, argv[index], &type);
  if (type != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fd must be a number (an open file descriptor)");
    return 0;
  }
  double d = 0;
  napi_get_value_double(env, argv[index], &d);
  if (!(d >= 0 && d <= 2147483647.0) || d != (double)(int32_t)d) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "fd must be a non-negative integer");
    return 0;
  }
  *out = (int32_t)d;
  return 1;
}

/* Reads argv[index] as a non-negative byte count: a safe-integer number or a bigint. */
static int bv_get_u64(napi_env env, napi_value *argv, size_t argc, size_t index, const char *what,
                      uint64_t *out) {
  char msg[128];
  napi_valuetype type = napi_undefined;
  if (index < argc) napi_typeof(env, argv[index], &type);
  if (type == napi_number) {
    double d = 0;
    napi_get_value_double(env, argv[index], &d);
    if (!(d >= 0 && d <= BV_MAX_SAFE) || d != (double)(uint64_t)d) {
      snprintf(msg, sizeof msg, "%s must be a non-negative safe integer", what);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return 0;
    }
    *out = (uint64_t)d;
    return 1;
  }
  if (type == napi_bigint) {
    bool lossless = false;
    uint64_t v = 0;
    napi_get_value_bigint_uint64(env, argv[index], &v, &lossless);
    if (!lossless) {
      snprintf(msg, sizeof msg, "%s must be a non-negative 64-bit integer", what);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return 0;
    }
    *out = v;
    return 1;
  }
  snprintf(msg, sizeof msg, "%s must be a number or a bigint", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return 0;
}

static int bv_ioctl(int fd, unsigned long request, void *arg) {
  int r;
  do {
    r = ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

static napi_value bv_block_device_size(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  BV_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!bv_get_fd(env, argv, argc, 0, &fd)) return NULL;
  uint64_t size = 0;
  if (bv_ioctl(fd, BLKGETSIZE64, &size) < 0) return bv_throw_errno(env, errno, "BLKGETSIZE64", fd);
  if ((double)size > BV_MAX_SAFE) return bv_throw_errno(env, EOVERFLOW, "BLKGETSIZE64", fd);
  napi_value result;
  BV_CALL(env, napi_create_double(env, (double)size, &result));
  return result;
}

static napi_value bv_logical_sector_size(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  BV_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!bv_get_fd(env, argv, argc, 0, &fd)) return NULL;
  int size = 0;
  if (bv_ioctl(fd, BLKSSZGET, &size) < 0) return bv_throw_errno(env, errno, "BLKSSZGET", fd);
  napi_value result;
  BV_CALL(env, napi_create_int32(env, size, &result));
  return result;
}

static napi_value bv_physical_sector_size(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  BV_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!bv_get_fd(env, argv, argc, 0, &fd)) return NULL;
  unsigned int size = 0;
  if (bv_ioctl(fd, BLKPBSZGET, &size) < 0) return bv_throw_errno(env, errno, "BLKPBSZGET", fd);
  napi_value result;
  BV_CALL(env, napi_create_uint32(env, size, &result));
  return result;
}

static napi_value bv_range_ioctl(napi_env env, napi_callback_info info, unsigned long request,
                                 const char *name) {
  size_t argc = 3;
  napi_value argv[3];
  int fd;
  uint64_t range[2];
  BV_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!bv_get_fd(env, argv, argc, 0, &fd)) return NULL;
  if (!bv_get_u64(env, argv, argc, 1, "offset", &range[0])) return NULL;
  if (!bv_get_u64(env, argv, argc, 2, "length", &range[1])) return NULL;
  if (range[1] != 0 && bv_ioctl(fd, request, range) < 0) return bv_throw_errno(env, errno, name, fd);
  return NULL; /* undefined */
}

static napi_value bv_zero_out(napi_env env, napi_callback_info info) {
  return bv_range_ioctl(env, info, BLKZEROOUT, "BLKZEROOUT");
}

static napi_value bv_discard(napi_env env, napi_callback_info info) {
  return bv_range_ioctl(env, info, BLKDISCARD, "BLKDISCARD");
}

#else /* !BV_SUPPORTED: stubs, so the package still builds and says why it cannot help */

static napi_value bv_unsupported(napi_env env, napi_callback_info info) {
  (void)info;
  napi_throw_error(env, "UNSUPPORTED",
                   "block-device ioctls (BLKGETSIZE64, BLKSSZGET, BLKPBSZGET, BLKZEROOUT, BLKDISCARD) "
                   "are only available on Linux");
  return NULL;
}
#define bv_block_device_size bv_unsupported
#define bv_logical_sector_size bv_unsupported
#define bv_physical_sector_size bv_unsupported
#define bv_zero_out bv_unsupported
#define bv_discard bv_unsupported

#endif

static napi_value bv_init(napi_env env, napi_value exports) {
  napi_value supported;
  BV_CALL(env, napi_get_boolean(env, BV_SUPPORTED, &supported));
  napi_property_descriptor props[] = {
      {"blockDeviceSize", NULL, bv_block_device_size, NULL, NULL, NULL, napi_enumerable, NULL},
      {"logicalSectorSize", NULL, bv_logical_sector_size, NULL, NULL, NULL, napi_enumerable, NULL},
      {"physicalSectorSize", NULL, bv_physical_sector_size, NULL, NULL, NULL, napi_enumerable, NULL},
      {"zeroOut", NULL, bv_zero_out, NULL, NULL, NULL, napi_enumerable, NULL},
      {"discard", NULL, bv_discard, NULL, NULL, NULL, napi_enumerable, NULL},
      {"supported", NULL, NULL, NULL, NULL, supported, napi_enumerable, NULL},
  };
  BV_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  if (!bv_aead_register(env, exports) || !bv_lz4_register(env, exports) || !bv_direct_io_register(env, exports)) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, bv_init)
