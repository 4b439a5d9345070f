// SPDX-License-Identifier: Apache-2.0
//
// The Widevine CE CDM behind the ampd CDM plugin ABI (include/ampd/cdm.h).
//
// THIS FILE IS NOT COMPILED IN ampd's OWN CI: it needs the licensed Widevine CE CDM SDK
// (third_party/widevine/README.md), which we do not have. It is written against the SDK
// interface of CE CDM 14-16 (`widevine::Cdm` in the SDK's cdm.h) and kept short so a
// licensee can check it line by line. It contains no cryptography of its own and no
// fallback: without the SDK there is no Widevine plugin at all.
//
// What it does:
//   create            Cdm::initialize() once per process (kNoSecureOutput: a speaker has no
//                     secure video path), with IStorage/IClock/ITimer bridged to the
//                     ampd_cdm_host services; then Cdm::create(listener, storage, false).
//   provisioning      isProvisioned / getProvisioningRequest / handleProvisioningResponse.
//   generate_request  createSession(kTemporary) happened at session_open; generateRequest()
//                     delivers the challenge synchronously through onMessage(), which we
//                     capture and hand back.
//   update            Cdm::update().
//   key_status        getKeyStatuses() + getExpiration().
//   decrypt           one Cdm::decrypt(session, in, out) per protected run: for 'cenc' the
//                     SDK wants the IV and block_offset of each run, so they are derived
//                     here from the sample IV with the 64-bit block counter.
//   renewals          onMessage(kLicenseRenewal) outside a request -> host session_message.
// Limits: one live instance per process (Cdm::initialize() binds process-wide services);
// IStorage::list() is not offered by the host ABI and answers false (only persistent
// licenses need it); the host must offer storage and timers, else create() fails.

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "cdm.h" // from the Widevine CE CDM SDK (AMPD_WIDEVINE_SDK/include)

#include <ampd/cdm.h>

#ifndef AMPD_WIDEVINE_COMPANY
#define AMPD_WIDEVINE_COMPANY "unknown"
#endif
#ifndef AMPD_WIDEVINE_MODEL
#define AMPD_WIDEVINE_MODEL "ampd"
#endif

namespace {

using widevine::Cdm;

int map_status(Cdm::Status s) {
  switch (s) {
  case Cdm::kSuccess:
    return 0;
  case Cdm::kTypeError:
  case Cdm::kInvalidState:
  case Cdm::kRangeError:
    return -EINVAL;
  case Cdm::kNotSupported:
    return -AMPD_CDM_EUNSUPPORTED;
  case Cdm::kQuotaExceeded:
    return -ENOSPC;
  case Cdm::kSessionNotFound:
    return -ENOENT;
  case Cdm::kNoKey:
    return -AMPD_CDM_ENOKEY;
  case Cdm::kDeferred:
    return -EAGAIN;
  default: // kNeedsDeviceCertificate, kDecryptError, kKeyUsageBlockedByPolicy, ...
    return -AMPD_CDM_EDRM;
  }
}

bool storage_name_ok(const std::string &name) {
  if (name.empty() || name.size() > 64)
    return false;
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

// IStorage, IClock and ITimer on top of the host's services.
// Cdm::initialize() keeps these for the life of the process, so the bridge is a static
// object that is bound to the live instance's host services and unbound (every call
// fails safely) while no instance exists.
class HostBridge : public Cdm::IStorage, public Cdm::IClock, public Cdm::ITimer {
public:
  void bind(const ampd_cdm_host *host) {
    std::lock_guard<std::mutex> g(timer_lock_);
    host_ = host;
    if (!host)
      timers_.clear(); // the host dropped its timers with itself
  }

  bool has_storage() const {
    return AMPD_CDM_HAS_SLOT(host_, struct ampd_cdm_host, storage_read) &&
           AMPD_CDM_HAS_SLOT(host_, struct ampd_cdm_host, storage_write) &&
           AMPD_CDM_HAS_SLOT(host_, struct ampd_cdm_host, storage_remove);
  }
  bool has_timers() const {
    return AMPD_CDM_HAS_SLOT(host_, struct ampd_cdm_host, timer_set) &&
           AMPD_CDM_HAS_SLOT(host_, struct ampd_cdm_host, timer_cancel);
  }

  // IStorage
  bool read(const std::string &name, std::string *data) override {
    if (!host_ || !storage_name_ok(name))
      return false;
    std::vector<uint8_t> buf(AMPD_CDM_MAX_MESSAGE);
    size_t n = 0;
    if (host_->storage_read(host_->userdata, name.c_str(), buf.data(), buf.size(), &n) < 0)
      return false;
    data->assign(reinterpret_cast<const char *>(buf.data()), n);
    return true;
  }
  bool write(const std::string &name, const std::string &data) override {
    if (!host_ || !storage_name_ok(name) || data.size() > AMPD_CDM_MAX_MESSAGE)
      return false;
    return host_->storage_write(host_->userdata, name.c_str(),
                                reinterpret_cast<const uint8_t *>(data.data()), data.size()) == 0;
  }
  bool exists(const std::string &name) override {
    std::string unused;
    return read(name, &unused);
  }
  bool remove(const std::string &name) override {
    return host_ && storage_name_ok(name) && host_->storage_remove(host_->userdata, name.c_str()) == 0;
  }
  int32_t size(const std::string &name) override {
    std::string data;
    return read(name, &data) ? static_cast<int32_t>(data.size()) : -1;
  }
  bool list(std::vector<std::string> *) override {
    return false; // the host ABI has no listing; temporary sessions do not need one
  }

  // IClock
  int64_t now() override {
    return host_ ? host_->wall_ms(host_->userdata) : 0;
  }

  // ITimer: at most one outstanding timer per client (the SDK's rule).
  void setTimeout(int64_t delay_ms, IClient *client, void *context) override {
    std::lock_guard<std::mutex> g(timer_lock_);
    if (!host_)
      return;
    Pending &p = timers_[client];
    p.bridge = this;
    p.client = client;
    p.context = context;
    uint32_t d = delay_ms < 0 ? 0 : delay_ms > 0x7fffffff ? 0x7fffffff : (uint32_t)delay_ms;
    host_->timer_set(host_->userdata, d, &HostBridge::fire, &p);
  }
  void cancel(IClient *client) override {
    std::lock_guard<std::mutex> g(timer_lock_);
    auto it = timers_.find(client);
    if (it == timers_.end() || !host_)
      return;
    host_->timer_cancel(host_->userdata, &it->second);
    timers_.erase(it);
  }

private:
  struct Pending {
    HostBridge *bridge;
    IClient *client;
    void *context;
  };
  static void fire(void *ctx) {
    Pending *p = static_cast<Pending *>(ctx);
    HostBridge *self = p->bridge;
    IClient *client = p->client;
    void *context = p->context;
    {
      std::lock_guard<std::mutex> g(self->timer_lock_);
      self->timers_.erase(client); // p is gone after this line
    }
    client->onTimerExpired(context);
  }

  const ampd_cdm_host *host_ = nullptr;
  std::mutex timer_lock_;
  std::map<IClient *, Pending> timers_; // node addresses are stable: safe as ctx
};

HostBridge bridge;

} // namespace

// The instance. Its address is what the host holds as struct ampd_cdm *.
struct ampd_cdm : public Cdm::IEventListener {
  const ampd_cdm_host *host;
  Cdm *wv = nullptr;
  std::recursive_mutex lock; // onMessage may run inside update() on the same thread
  uint32_t next_id = 1;
  std::map<uint32_t, std::string> sessions; // ampd id -> Widevine session id
  std::string *capture = nullptr;           // set while generateRequest() runs

  explicit ampd_cdm(const ampd_cdm_host *h) : host(h) {}

  void log(int level, const char *msg) {
    host->log(host->userdata, level, msg);
  }

  uint32_t id_of(const std::string &wv_session) {
    for (auto &kv : sessions)
      if (kv.second == wv_session)
        return kv.first;
    return 0;
  }

  // IEventListener
  void onMessage(const std::string &session_id, Cdm::MessageType type,
                 const std::string &message) override {
    if (capture && type == Cdm::kLicenseRequest) {
      *capture = message;
      return;
    }
    uint32_t id = id_of(session_id);
    if (type == Cdm::kLicenseRenewal && id != 0 &&
        AMPD_CDM_HAS_SLOT(host, struct ampd_cdm_host, session_message) &&
        message.size() <= AMPD_CDM_MAX_MESSAGE)
      host->session_message(host->userdata, id, AMPD_CDM_MESSAGE_LICENSE_RENEWAL,
                            reinterpret_cast<const uint8_t *>(message.data()), message.size());
    else
      log(AMPD_CDM_LOG_DEBUG, "widevine: dropped an unsolicited message");
  }
  void onKeyStatusesChange(const std::string &, bool) override {}
  void onRemoveComplete(const std::string &) override {}
  void onDeferredComplete(const std::string &, Cdm::Status) override {}
  void onDirectIndividualizationRequest(const std::string &, const std::string &) override {
    log(AMPD_CDM_LOG_WARNING, "widevine: direct individualization is not supported");
  }
};

namespace {

std::mutex global_lock;
bool initialized = false;
ampd_cdm *the_instance = nullptr; // one at a time: the bridge serves one host

int copy_out(const std::string &s, uint8_t **ret, size_t *ret_len) {
  if (s.empty() || s.size() > AMPD_CDM_MAX_MESSAGE)
    return -AMPD_CDM_EDRM;
  uint8_t *p = static_cast<uint8_t *>(malloc(s.size()));
  if (!p)
    return -ENOMEM;
  memcpy(p, s.data(), s.size());
  *ret = p;
  *ret_len = s.size();
  return 0;
}

int wv_create(const ampd_cdm_host *host, ampd_cdm **ret) {
  int r = ampd_cdm_host_check(host);
  if (r < 0)
    return r;
  std::lock_guard<std::mutex> g(global_lock);
  if (the_instance)
    return -EBUSY;
  ampd_cdm *c = new (std::nothrow) ampd_cdm(host);
  if (!c)
    return -ENOMEM;
  bridge.bind(host);
  if (!bridge.has_storage() || !bridge.has_timers()) {
    c->log(AMPD_CDM_LOG_ERR, "widevine: the host must offer storage and timers");
    bridge.bind(nullptr);
    delete c;
    return -AMPD_CDM_EUNSUPPORTED;
  }
  if (!initialized) {
    Cdm::ClientInfo info;
    info.product_name = "ampd";
    info.company_name = AMPD_WIDEVINE_COMPANY;
    info.model_name = AMPD_WIDEVINE_MODEL;
    Cdm::Status s =
        Cdm::initialize(Cdm::kNoSecureOutput, info, &bridge, &bridge, &bridge, Cdm::kErrors);
    if (s != Cdm::kSuccess) {
      bridge.bind(nullptr);
      delete c;
      return map_status(s);
    }
    initialized = true;
  }
  c->wv = Cdm::create(c, &bridge, false);
  if (!c->wv) {
    bridge.bind(nullptr);
    delete c;
    return -AMPD_CDM_EDRM;
  }
  the_instance = c;
  *ret = c;
  return 0;
}

void wv_destroy(ampd_cdm *c) {
  if (!c)
    return;
  std::lock_guard<std::mutex> g(global_lock);
  for (auto &kv : c->sessions)
    c->wv->close(kv.second);
  delete c->wv;
  bridge.bind(nullptr); // the SDK keeps the bridge; it now fails every call safely
  the_instance = nullptr;
  delete c;
}

void wv_release(ampd_cdm *, void *buffer) {
  free(buffer);
}

int wv_needs_provisioning(ampd_cdm *c, int *ret) {
  std::lock_guard<std::recursive_mutex> g(c->lock);
  *ret = c->wv->isProvisioned() ? 0 : 1;
  return 0;
}

int wv_provision_request(ampd_cdm *c, uint8_t **ret, size_t *ret_len) {
  std::lock_guard<std::recursive_mutex> g(c->lock);
  std::string req;
  int r = map_status(c->wv->getProvisioningRequest(&req));
  return r < 0 ? r : copy_out(req, ret, ret_len);
}

int wv_provision_response(ampd_cdm *c, const uint8_t *msg, size_t len) {
  std::lock_guard<std::recursive_mutex> g(c->lock);
  return map_status(
      c->wv->handleProvisioningResponse(std::string(reinterpret_cast<const char *>(msg), len)));
}

int wv_session_open(ampd_cdm *c, uint32_t type, uint32_t *ret) {
  if (type != AMPD_CDM_SESSION_TEMPORARY)
    return -AMPD_CDM_EUNSUPPORTED;
  std::lock_guard<std::recursive_mutex> g(c->lock);
  if (c->sessions.size() >= AMPD_CDM_MAX_SESSIONS || c->next_id == 0)
    return -ENOSPC;
  std::string sid;
  int r = map_status(c->wv->createSession(Cdm::kTemporary, &sid));
  if (r < 0)
    return r;
  uint32_t id = c->next_id++;
  c->sessions[id] = sid;
  *ret = id;
  return 0;
}

int wv_generate_request(ampd_cdm *c, uint32_t session, uint32_t type, const uint8_t *init,
                        size_t len, uint8_t **ret, size_t *ret_len) {
  if (type != AMPD_CDM_INIT_CENC)
    return -AMPD_CDM_EUNSUPPORTED; // Widevine takes pssh boxes, not keyids
  if (len > AMPD_CDM_MAX_INIT_DATA)
    return -AMPD_CDM_ETOOBIG;
  std::lock_guard<std::recursive_mutex> g(c->lock);
  auto it = c->sessions.find(session);
  if (it == c->sessions.end())
    return -ENOENT;
  std::string msg;
  c->capture = &msg;
  Cdm::Status s = c->wv->generateRequest(it->second, Cdm::kCenc,
                                         std::string(reinterpret_cast<const char *>(init), len));
  c->capture = nullptr;
  int r = map_status(s);
  return r < 0 ? r : copy_out(msg, ret, ret_len);
}

int wv_update(ampd_cdm *c, uint32_t session, const uint8_t *lic, size_t len) {
  std::lock_guard<std::recursive_mutex> g(c->lock);
  auto it = c->sessions.find(session);
  if (it == c->sessions.end())
    return -ENOENT;
  int r = map_status(
      c->wv->update(it->second, std::string(reinterpret_cast<const char *>(lic), len)));
  return r == -EINVAL ? -AMPD_CDM_ELICENSE : r;
}

int wv_key_status(ampd_cdm *c, uint32_t session, const uint8_t *kid, uint32_t *ret_status,
                  int64_t *ret_expiry) {
  std::lock_guard<std::recursive_mutex> g(c->lock);
  auto it = c->sessions.find(session);
  if (it == c->sessions.end())
    return -ENOENT;
  Cdm::KeyStatusMap statuses;
  int r = map_status(c->wv->getKeyStatuses(it->second, &statuses));
  if (r < 0)
    return r;
  int64_t expiry = -1;
  if (c->wv->getExpiration(it->second, &expiry) != Cdm::kSuccess)
    expiry = -1;
  auto k = statuses.find(std::string(reinterpret_cast<const char *>(kid), AMPD_CDM_KID_LEN));
  uint32_t st = AMPD_CDM_KEY_MISSING;
  if (k != statuses.end()) {
    switch (k->second) {
    case Cdm::kUsable:
      st = AMPD_CDM_KEY_USABLE;
      break;
    case Cdm::kExpired:
      st = AMPD_CDM_KEY_EXPIRED;
      break;
    case Cdm::kOutputRestricted:
      st = AMPD_CDM_KEY_OUTPUT_RESTRICTED;
      break;
    case Cdm::kInternalError:
      st = AMPD_CDM_KEY_INTERNAL_ERROR;
      break;
    default: // pending, released
      st = AMPD_CDM_KEY_MISSING;
      break;
    }
  }
  *ret_status = st;
  if (ret_expiry)
    *ret_expiry = expiry > 0 ? expiry : 0;
  return 0;
}

// The counter block after `blocks` 16-byte blocks: bytes 8..15 + blocks, mod 2^64.
void iv_advance(const uint8_t iv[16], uint64_t blocks, uint8_t out[16]) {
  uint64_t low = 0;
  for (int i = 8; i < 16; i++)
    low = low << 8 | iv[i];
  low += blocks;
  memcpy(out, iv, 8);
  for (int i = 0; i < 8; i++)
    out[15 - i] = (uint8_t)(low >> (8 * i));
}

int wv_decrypt(ampd_cdm *c, uint32_t session, const ampd_cdm_sample *s) {
  if (!s || s->version != AMPD_CDM_ABI_VERSION || s->size < AMPD_CDM_SAMPLE_MIN_SIZE)
    return -AMPD_CDM_EABI;
  if (s->scheme != AMPD_CDM_SCHEME_CENC)
    return -AMPD_CDM_EUNSUPPORTED; // cbcs: map pattern + kAesCbc when a stream needs it
  if ((s->iv_len != 8 && s->iv_len != 16) || s->len > UINT32_MAX ||
      s->subsample_count > AMPD_CDM_MAX_SUBSAMPLES || (s->subsample_count && !s->subsamples))
    return -EINVAL;
  std::lock_guard<std::recursive_mutex> g(c->lock);
  auto it = c->sessions.find(session);
  if (it == c->sessions.end())
    return -ENOENT;
  uint8_t iv0[16] = {0};
  memcpy(iv0, s->iv, s->iv_len);
  const ampd_cdm_subsample whole = {0, (uint32_t)s->len};
  const ampd_cdm_subsample *subs = s->subsample_count ? s->subsamples : &whole;
  uint32_t n = s->subsample_count ? s->subsample_count : 1;
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; i++)
    total += (uint64_t)subs[i].clear_bytes + subs[i].protected_bytes;
  if (total != s->len)
    return -EINVAL;

  size_t off = 0;
  uint64_t stream = 0; // protected bytes so far: one keystream across runs
  for (uint32_t i = 0; i < n; i++) {
    if (subs[i].clear_bytes && s->out != s->in)
      memmove(s->out + off, s->in + off, subs[i].clear_bytes);
    off += subs[i].clear_bytes;
    if (subs[i].protected_bytes == 0)
      continue;
    uint8_t iv[16];
    iv_advance(iv0, stream / 16, iv);
    // The SDK does not promise in-place decryption: decrypt from a copy then.
    std::vector<uint8_t> scratch;
    const uint8_t *src = s->in + off;
    if (s->in == s->out) {
      scratch.assign(src, src + subs[i].protected_bytes);
      src = scratch.data();
    }
    Cdm::InputBuffer in;
    in.key_id = s->kid;
    in.key_id_length = AMPD_CDM_KID_LEN;
    in.iv = iv;
    in.iv_length = 16;
    in.data = src;
    in.data_length = subs[i].protected_bytes;
    in.block_offset = (uint32_t)(stream % 16);
    in.encryption_scheme = Cdm::kAesCtr;
    in.is_video = false;
    in.first_subsample = (i == 0);
    in.last_subsample = (i + 1 == n);
    Cdm::OutputBuffer out;
    out.data = s->out + off;
    out.data_length = subs[i].protected_bytes;
    out.is_secure = false;
    int r = map_status(c->wv->decrypt(it->second, in, out));
    if (r < 0)
      return r;
    off += subs[i].protected_bytes;
    stream += subs[i].protected_bytes;
  }
  return 0;
}

int wv_session_close(ampd_cdm *c, uint32_t session) {
  std::lock_guard<std::recursive_mutex> g(c->lock);
  auto it = c->sessions.find(session);
  if (it == c->sessions.end())
    return -ENOENT;
  c->wv->close(it->second);
  c->sessions.erase(it);
  return 0;
}

const ampd_cdm_plugin plugin = [] {
  ampd_cdm_plugin p{};
  p.version = AMPD_CDM_ABI_VERSION;
  p.size = sizeof(ampd_cdm_plugin);
  p.name = "widevine";
  p.key_system = "com.widevine.alpha";
  p.create = wv_create;
  p.destroy = wv_destroy;
  p.release = wv_release;
  p.needs_provisioning = wv_needs_provisioning;
  p.provision_request = wv_provision_request;
  p.provision_response = wv_provision_response;
  p.session_open = wv_session_open;
  p.generate_request = wv_generate_request;
  p.update = wv_update;
  p.key_status = wv_key_status;
  p.decrypt = wv_decrypt;
  p.session_close = wv_session_close;
  return p;
}();

} // namespace

extern "C" AMPD_CDM_EXPORT const ampd_cdm_plugin *ampd_cdm_entry(uint32_t host_abi_version) {
  return host_abi_version == AMPD_CDM_ABI_VERSION ? &plugin : nullptr;
}
