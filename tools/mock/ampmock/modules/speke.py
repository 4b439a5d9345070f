"""A SPEKE v2.0 key provider (CPIX 2.3): what a packager asks for the content keys and
DRM signalling of the tracks it encrypts. docs/speke.md describes it in full.

Service route:
  POST /speke/v2.0/copyProtection
      headers  X-Api-Key: <--speke-api-key>          (else 403 "Forbidden"), or with
               --speke-sigv4 an AWS SigV4 signature instead (Authorization, X-Amz-Date:
               ../sigv4.py; else 403 "Forbidden")
               X-Speke-Version: 2.0                   (else 422 "Unsupported SPEKE version")
               Content-Type: application/xml          (else 415)
      body     a CPIX 2.3 document (at most BODY_MAX bytes: 413; UTF-8, no DOCTYPE,
               well-formed: else 400) naming the content keys, DRM systems, usage rules and, for live,
               the key periods; checked as docs/speke.md "Errors" lists (422 + message)
      reply    200, the same document filled in: every ContentKey gets its key (in
               pskc:PlainValue, or encrypted for the DeliveryData's certificate), every
               DRMSystem the signalling it asks for (PSSH, ContentProtectionData,
               HLSSignalingData, SmoothStreamingProtectionHeaderData). Every reply carries
               X-Speke-Version (the request's) and X-Speke-User-Agent (USER_AGENT).

Keys: HMAC-SHA256(--speke-secret, contentId "\\n" kid-hex), first 16 bytes, except for a
KID the catalog under --root already holds (a keys.json): that key is used. Each KID
issued is kept (at most KIDS_MAX) so that the license module grants it on
/license/catalog; a KID issued under one contentId is refused under another.

Test control (under /_mock/, never faulted, never logged):
  GET  /_mock/speke        {"requests": n, "issued": n, "kids": n}
  POST /_mock/speke/reset  {}   counters 0, the issued KIDs forgotten

Nothing here prints a key; the request log keeps only the headers and body length.
"""

import argparse
import base64
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET

from .. import sigv4
from ..router import HttpError, Response
from . import license as license_mod

NAME = "speke"
USER_AGENT = "ampmock-speke/1.0"
BODY_MAX = 1024 * 1024        # request body (413 beyond)
KEYS_MAX = 64                 # ContentKeys in one request
DRMS_MAX = 256                # DRMSystems in one request
PERIODS_MAX = 64              # ContentKeyPeriods in one request
RULES_MAX = 256               # ContentKeyUsageRules in one request
KIDS_MAX = 65536              # KIDs remembered for the license module (507 beyond)
OPENSSL_TIMEOUT_S = 20

NS = {"cpix": "urn:dashif:org:cpix", "pskc": "urn:ietf:params:xml:ns:keyprov:pskc",
      "enc": "http://www.w3.org/2001/04/xmlenc#", "ds": "http://www.w3.org/2000/09/xmldsig#"}
for _p, _u in NS.items():
    ET.register_namespace(_p, _u)
CPIX = "{%s}" % NS["cpix"]
PSKC = "{%s}" % NS["pskc"]
ENC = "{%s}" % NS["enc"]
DS = "{%s}" % NS["ds"]
ALG_AES256CBC = NS["enc"] + "aes256-cbc"
ALG_RSA_OAEP = NS["enc"] + "rsa-oaep-mgf1p"
ALG_HMAC512 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512"

WIDEVINE = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
PLAYREADY = "9a04f079-9840-4286-ab92-e65be0885f95"
FAIRPLAY = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2"
COMMON = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
SYSTEMS = (WIDEVINE, PLAYREADY, FAIRPLAY, COMMON)
HLS_KEYFORMAT = {WIDEVINE: "urn:uuid:" + WIDEVINE, PLAYREADY: "com.microsoft.playready",
                 FAIRPLAY: "com.apple.streamingkeydelivery", COMMON: "urn:uuid:" + COMMON}
SCHEMES = ("cenc", "cbc1", "cens", "cbcs")
SIGNALLING = ("PSSH", "ContentProtectionData", "HLSSignalingData",
              "SmoothStreamingProtectionHeaderData")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")


def _sigv4_credentials(text):
    try:
        return sigv4.parse_credentials(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(parser):
    parser.add_argument("--speke-api-key", default="ampmock-speke-test",
                        help="the X-Api-Key a SPEKE request must carry")
    parser.add_argument("--speke-sigv4", type=_sigv4_credentials, default=None,
                        metavar="ACCESS_KEY_ID:SECRET",
                        help="auth by AWS SigV4 (service execute-api) with these credentials "
                             "instead of X-Api-Key")
    parser.add_argument("--speke-secret", default="ampmock-speke-secret",
                        help="HMAC secret the SPEKE content keys are derived from")
    parser.add_argument("--speke-openssl", default="openssl",
                        help="openssl command for content key encryption ('' = none)")


class Refusal(Exception):
    """A 422 with the SPEKE error message."""


# --- boxes and headers (ISO/IEC 23001-7 §8.1, the PlayReady header object) ---------------

def pssh_box(system_id, kids, data, version):
    """A 'pssh' box: version 1 lists kids (16 bytes each), version 0 does not."""
    body = bytes([version, 0, 0, 0]) + uuid.UUID(system_id).bytes
    if version == 1:
        body += len(kids).to_bytes(4, "big") + b"".join(kids)
    body += len(data).to_bytes(4, "big") + data
    return (8 + len(body)).to_bytes(4, "big") + b"pssh" + body


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def widevine_data(kids, content_id, scheme):
    """WidevinePsshData (protobuf): key_id (2) per KID, content_id (4), protection_scheme (9)."""
    out = b""
    for k in kids:
        out += b"\x12" + _varint(len(k)) + k
    cid = content_id.encode("utf-8")
    out += b"\x22" + _varint(len(cid)) + cid
    out += b"\x48" + _varint(int.from_bytes(scheme.encode("ascii"), "big"))
    return out


def _guid_le(kid):
    return kid[3::-1] + kid[5:3:-1] + kid[7:5:-1] + kid[8:]


def playready_object(kids, scheme):
    """A PlayReady Object holding one WRMHEADER 4.3 record that lists the KIDs."""
    alg = "AESCBC" if scheme in ("cbcs", "cbc1") else "AESCTR"
    kid_xml = "".join('<KID ALGID="%s" VALUE="%s"></KID>'
                      % (alg, base64.b64encode(_guid_le(k)).decode()) for k in kids)
    hdr = ('<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" '
           'version="4.3.0.0"><DATA><PROTECTINFO><KIDS>%s</KIDS></PROTECTINFO>'
           '</DATA></WRMHEADER>' % kid_xml).encode("utf-16-le")
    rec = (1).to_bytes(2, "little") + len(hdr).to_bytes(2, "little") + hdr
    return (4 + 2 + len(rec)).to_bytes(4, "little") + (1).to_bytes(2, "little") + rec


def system_pssh(system_id, kid, content_id, scheme):
    if system_id == WIDEVINE:
        return pssh_box(WIDEVINE, [kid], widevine_data([kid], content_id, scheme), 0)
    if system_id == PLAYREADY:
        return pssh_box(PLAYREADY, [kid], playready_object([kid], scheme), 0)
    if system_id == COMMON:
        return pssh_box(COMMON, [kid], b"", 1)
    return None  # FairPlay has no DASH signalling


def _b64(raw):
    return base64.b64encode(raw).decode("ascii")


def hls_line(system_id, kid, content_id, scheme, playlist):
    tag = "#EXT-X-SESSION-KEY" if playlist == "master" else "#EXT-X-KEY"
    method = "SAMPLE-AES" if scheme == "cbcs" else "SAMPLE-AES-CTR"
    if system_id == FAIRPLAY:
        uri = "skd://" + kid.hex()
    else:
        uri = "data:text/plain;base64," + _b64(system_pssh(system_id, kid, content_id, scheme))
    return ('%s:METHOD=%s,URI="%s",KEYID=0x%s,KEYFORMAT="%s",KEYFORMATVERSIONS="1"\n'
            % (tag, method, uri, kid.hex(), HLS_KEYFORMAT[system_id]))


def content_protection(system_id, kid, content_id, scheme):
    box = _b64(system_pssh(system_id, kid, content_id, scheme))
    xml = '<cenc:pssh xmlns:cenc="urn:mpeg:cenc:2013">%s</cenc:pssh>' % box
    if system_id == PLAYREADY:
        xml = ('<mspr:pro xmlns:mspr="urn:microsoft:playready">%s</mspr:pro>'
               % _b64(playready_object([kid], scheme))) + xml
    return xml.encode("utf-8")


# --- content key encryption through the openssl command ----------------------------------

def _run(openssl, args, data, tmp):
    try:
        p = subprocess.run([openssl] + args, input=data, capture_output=True, cwd=tmp,
                           timeout=OPENSSL_TIMEOUT_S, check=False)
    except OSError:
        raise Refusal("content key encryption not supported") from None
    if p.returncode != 0:
        return None
    return p.stdout


class Delivery:
    """The document key and MAC key of one DeliveryData, encrypted for its certificate."""

    def __init__(self, openssl, cert_der, tmp):
        self.openssl, self.tmp = openssl, tmp
        cert = os.path.join(tmp, "delivery.der")
        with open(cert, "wb") as f:
            f.write(cert_der)
        pub = _run(openssl, ["x509", "-inform", "DER", "-in", cert, "-noout", "-pubkey"],
                   b"", tmp)
        if pub is None:
            raise Refusal("Invalid DeliveryKey certificate")
        self.pub = os.path.join(tmp, "delivery.pub")
        with open(self.pub, "wb") as f:
            f.write(pub)
        text = _run(openssl, ["pkey", "-pubin", "-in", self.pub, "-noout", "-text_pub"],
                    b"", tmp) or b""
        if not re.search(rb"Public-Key: \(2048 bit\)", text) or b"Modulus" not in text:
            raise Refusal("DeliveryKey must be a 2048-bit RSA certificate")
        self.doc_key = os.urandom(32)
        self.mac_key = os.urandom(64)
        self.doc_key_enc = self.rsa(self.doc_key)
        self.mac_key_enc = self.rsa(self.mac_key)

    def rsa(self, data):
        out = _run(self.openssl, ["pkeyutl", "-encrypt", "-pubin", "-inkey", self.pub,
                                  "-pkeyopt", "rsa_padding_mode:oaep"], data, self.tmp)
        if out is None:
            raise Refusal("content key encryption failed")
        return out

    def wrap(self, key):
        """(IV || AES-256-CBC(key), HMAC-SHA512 of it)."""
        iv = os.urandom(16)
        ct = _run(self.openssl, ["enc", "-aes-256-cbc", "-K", self.doc_key.hex(),
                                 "-iv", iv.hex()], key, self.tmp)
        if ct is None:
            raise Refusal("content key encryption failed")
        value = iv + ct
        return value, hmac.new(self.mac_key, value, hashlib.sha512).digest()


def _encrypted_value(parent, alg, cipher):
    ev = ET.SubElement(parent, PSKC + "EncryptedValue")
    ET.SubElement(ev, ENC + "EncryptionMethod", {"Algorithm": alg})
    cd = ET.SubElement(ev, ENC + "CipherData")
    ET.SubElement(cd, ENC + "CipherValue").text = _b64(cipher)
    return ev


# --- the request ------------------------------------------------------------------------

def _children(parent, tag, most, what):
    if parent is None:
        return []
    out = parent.findall(CPIX + tag)
    if len(out) > most:
        raise Refusal("Too many %s (at most %d)" % (what, most))
    return out


def _kid_of(s, what):
    if not isinstance(s, str) or not _UUID.match(s):
        raise Refusal("Invalid %s" % what)
    return uuid.UUID(s).bytes


def _clear(el):
    for c in list(el):
        el.remove(c)
    el.text = None


def register(app):
    st = app.state.setdefault("speke", {"requests": 0, "issued": 0, "keys": {}, "owner": {}})
    app.ledger.record("speke_api_key", app.args.speke_api_key)
    if app.args.speke_sigv4 is not None:
        app.ledger.record("speke_api_key", app.args.speke_sigv4[1])  # its second form

    def derive(content_id, kid):
        mac = hmac.new(app.args.speke_secret.encode(), content_id.encode("utf-8") + b"\n"
                       + kid.hex().encode(), hashlib.sha256)
        return mac.digest()[:16]

    def catalog_keys(kids):
        lic = app.state.get("license")
        with app.lock:
            known = dict(lic["keys"]) if lic is not None else {}
        if any(k not in known for k in kids):
            known = license_mod._scan_keys(app.args.root)
        return known

    def check_auth(req):
        """403 unless the request is authorised: X-Api-Key, or with --speke-sigv4 a
        SigV4 signature (the body is only hashed, not read, before this passes)."""
        if app.args.speke_sigv4 is not None:
            why = sigv4.check(req.method, req.path, req.query, req.headers, req.body,
                              *app.args.speke_sigv4)
            if why is not None:
                req.why = "speke: SigV4: %s" % why
                raise HttpError(403, "Forbidden")
            return
        if not hmac.compare_digest((req.headers.get("X-Api-Key") or "").encode(),
                                   app.args.speke_api_key.encode()):
            req.why = "speke: no or wrong X-Api-Key"
            raise HttpError(403, "Forbidden")

    def check_request(req):
        check_auth(req)
        if (req.headers.get("X-Speke-Version") or "").strip() != "2.0":
            raise Refusal("Unsupported SPEKE version")
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/xml":
            raise HttpError(415, "Content-Type is not application/xml")
        if len(req.body) > BODY_MAX:
            raise HttpError(413, "body too large")
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or "\0" in text:  # also keeps UTF-16 out of the DOCTYPE check
            raise HttpError(400, "body is not UTF-8 XML")
        if "<!DOCTYPE" in text or "<!ENTITY" in text:
            raise HttpError(400, "a DOCTYPE is not accepted")
        try:
            return ET.fromstring(req.body)
        except ET.ParseError as e:
            raise HttpError(400, "not well-formed XML: %s" % e) from None

    def fill(root, base_tmp):
        if root.tag != CPIX + "CPIX":
            raise Refusal("Not a CPIX document")
        content_id = root.get("contentId")
        if not content_id:
            raise Refusal("Missing CPIX@contentId")
        if root.get("version") is None:
            raise Refusal("Missing CPIX@version")
        if root.get("version") != "2.3":
            raise Refusal("Unsupported CPIX@version")
        ckl = root.find(CPIX + "ContentKeyList")
        cks = _children(ckl, "ContentKey", KEYS_MAX, "ContentKeys")
        if not cks:
            raise Refusal("Missing ContentKeyList")
        kids, schemes = [], set()
        for ck in cks:
            kid = _kid_of(ck.get("kid"), "ContentKey@kid")
            if kid in kids:
                raise Refusal("Duplicate ContentKey@kid %s" % ck.get("kid"))
            kids.append(kid)
            sch = ck.get("commonEncryptionScheme")
            if not sch:
                raise Refusal("Missing ContentKey@commonEncryptionScheme for KID %s"
                              % ck.get("kid"))
            schemes.add(sch)
        if len(schemes) != 1 or not schemes <= set(SCHEMES):
            raise Refusal("Non compliant ContentKey@commonEncryptionScheme combination")
        scheme = schemes.pop()

        periods = {}
        for p in _children(root.find(CPIX + "ContentKeyPeriodList"), "ContentKeyPeriod",
                           PERIODS_MAX, "ContentKeyPeriods"):
            pid, idx = p.get("id"), p.get("index")
            if not pid or pid in periods or idx is None or not idx.isdigit():
                raise Refusal("Invalid ContentKeyPeriod (id and index required)")
            periods[pid] = int(idx)
        # the encryption contract (docs/speke.md §2): every key has a rule, every rule a
        # track type unique among the rules of its key periods and at least one filter;
        # ALL (one key for every track) stands alone, with two attribute-less filters
        rules = _children(root.find(CPIX + "ContentKeyUsageRuleList"), "ContentKeyUsageRule",
                          RULES_MAX, "ContentKeyUsageRules")
        if not rules:
            raise Refusal("Missing ContentKeyUsageRuleList")
        used, groups = set(), {}
        for rule in rules:
            kid = _kid_of(rule.get("kid"), "ContentKeyUsageRule@kid")
            if kid not in kids:
                raise Refusal("ContentKeyUsageRule@kid %s is not a ContentKey"
                              % rule.get("kid"))
            used.add(kid)
            ttype = rule.get("intendedTrackType")
            if not ttype:
                raise Refusal("Missing ContentKeyUsageRule@intendedTrackType for KID %s"
                              % rule.get("kid"))
            kpfs = rule.findall(CPIX + "KeyPeriodFilter")
            for kpf in kpfs:
                if kpf.get("periodId") not in periods:
                    raise Refusal("KeyPeriodFilter@periodId %s is not a ContentKeyPeriod"
                                  % kpf.get("periodId"))
            group = groups.setdefault(frozenset(k.get("periodId") for k in kpfs), {})
            if ttype in group:
                raise Refusal("Duplicate ContentKeyUsageRule@intendedTrackType %s" % ttype)
            group[ttype] = rule
            filters = [c for c in rule if c.tag in (CPIX + "AudioFilter", CPIX + "VideoFilter")]
            if not filters:
                raise Refusal("ContentKeyUsageRule for KID %s needs an AudioFilter or a "
                              "VideoFilter" % rule.get("kid"))
            for af in rule.findall(CPIX + "AudioFilter"):
                lo, hi = af.get("minChannels"), af.get("maxChannels")
                for v in (lo, hi):
                    if v is not None and not v.isdigit():
                        raise Refusal("Invalid AudioFilter channel count")
                if lo is not None and hi is not None and int(lo) > int(hi):
                    raise Refusal("AudioFilter@minChannels above maxChannels")
        if used != set(kids):
            raise Refusal("Every ContentKey needs a ContentKeyUsageRule")
        for group in groups.values():
            rule = group.get("ALL")
            if rule is None:
                continue
            if len(group) > 1:
                raise Refusal("intendedTrackType ALL must be the only ContentKeyUsageRule")
            filters = sorted(c.tag for c in rule if c.tag != CPIX + "KeyPeriodFilter")
            if filters != [CPIX + "AudioFilter", CPIX + "VideoFilter"] or \
                    any(c.attrib for c in rule if c.tag != CPIX + "KeyPeriodFilter"):
                raise Refusal("intendedTrackType ALL needs one VideoFilter and one "
                              "AudioFilter, without attributes")

        drms = _children(root.find(CPIX + "DRMSystemList"), "DRMSystem", DRMS_MAX,
                         "DRMSystems")
        if not drms:
            raise Refusal("Missing DRMSystemList")
        for d in drms:
            if _kid_of(d.get("kid"), "DRMSystem@kid") not in kids:
                raise Refusal("DRMSystem@kid %s is not a ContentKey" % d.get("kid"))
            if not d.get("systemId"):
                raise Refusal("Missing DRMSystem@systemId")
            sid = d.get("systemId").lower()
            if sid not in SYSTEMS:
                raise Refusal("Unsupported DRMSystem@systemId %s" % d.get("systemId"))
            if sid == FAIRPLAY and scheme != "cbcs":
                raise Refusal("FairPlay needs commonEncryptionScheme cbcs")
            for h in d.findall(CPIX + "HLSSignalingData"):
                if h.get("playlist") not in ("media", "master"):
                    raise Refusal("HLSSignalingData@playlist must be media or master")
            if sid != PLAYREADY and d.find(CPIX + "SmoothStreamingProtectionHeaderData") \
                    is not None:
                raise Refusal("SmoothStreamingProtectionHeaderData is PlayReady only")

        delivery = None
        ddl = root.find(CPIX + "DeliveryDataList")
        dds = _children(ddl, "DeliveryData", 1, "DeliveryData (one is supported)")
        if dds:
            cert = dds[0].find(CPIX + "DeliveryKey/" + DS + "X509Data/" + DS
                               + "X509Certificate")
            if cert is None or not (cert.text or "").strip():
                raise Refusal("DeliveryKey without an X509Certificate")
            try:
                der = base64.b64decode("".join(cert.text.split()), validate=True)
            except ValueError:
                raise Refusal("Invalid DeliveryKey certificate") from None
            openssl = app.args.speke_openssl and shutil.which(app.args.speke_openssl)
            if not openssl:
                raise Refusal("content key encryption not supported")
            delivery = Delivery(openssl, der, base_tmp)

        # keys: the catalog's for its KIDs, else derived; one contentId per KID
        known = catalog_keys(kids)
        keys = {kid: known.get(kid) or derive(content_id, kid) for kid in kids}

        def issue():
            """Check (and, with commit, record) that each KID is this contentId's."""
            for kid in kids:
                owner = st["owner"].get(kid)
                if owner is not None and owner != content_id:
                    raise Refusal("KID %s belongs to another contentId" % uuid.UUID(bytes=kid))
            if len(st["owner"]) + sum(k not in st["owner"] for k in kids) > KIDS_MAX:
                raise HttpError(507, "too many KIDs issued")

        with app.lock:
            issue()

        for ck, kid in zip(cks, kids):
            app.ledger.record("content_key", keys[kid])
            for old in ck.findall(CPIX + "Data"):
                ck.remove(old)
            secret = ET.SubElement(ET.SubElement(ck, CPIX + "Data"), PSKC + "Secret")
            if delivery is None:
                ET.SubElement(secret, PSKC + "PlainValue").text = _b64(keys[kid])
            else:
                value, mac = delivery.wrap(keys[kid])
                _encrypted_value(secret, ALG_AES256CBC, value)
                ET.SubElement(secret, PSKC + "ValueMAC").text = _b64(mac)
        if delivery is not None:
            dd = dds[0]
            for tag in ("DocumentKey", "MACMethod"):
                for old in dd.findall(CPIX + tag):
                    dd.remove(old)
            dk = ET.SubElement(dd, CPIX + "DocumentKey", {"Algorithm": ALG_AES256CBC})
            sec = ET.SubElement(ET.SubElement(dk, CPIX + "Data"), PSKC + "Secret")
            _encrypted_value(sec, ALG_RSA_OAEP, delivery.doc_key_enc)
            mm = ET.SubElement(dd, CPIX + "MACMethod", {"Algorithm": ALG_HMAC512})
            _encrypted_value(ET.SubElement(mm, CPIX + "Key"), ALG_RSA_OAEP,
                             delivery.mac_key_enc)

        for d in drms:
            kid = uuid.UUID(d.get("kid")).bytes
            sid = d.get("systemId").lower()
            asked = [c.tag[len(CPIX):] for c in d if c.tag[len(CPIX):] in SIGNALLING]
            if not asked:  # nothing named: everything the system has
                asked = (["HLSSignalingData"] if sid == FAIRPLAY else
                         ["PSSH", "ContentProtectionData", "HLSSignalingData"])
                for tag in asked:
                    if tag == "HLSSignalingData":
                        for pl in ("media", "master"):
                            ET.SubElement(d, CPIX + tag, {"playlist": pl})
                    else:
                        ET.SubElement(d, CPIX + tag)
            if sid == FAIRPLAY:  # HLS only: a PSSH or ContentProtectionData asked is left out
                for c in [c for c in d if c.tag in (CPIX + "PSSH",
                                                    CPIX + "ContentProtectionData")]:
                    d.remove(c)
            for c in d:
                tag = c.tag[len(CPIX):]
                if tag == "PSSH":
                    _clear(c)
                    c.text = _b64(system_pssh(sid, kid, content_id, scheme))
                elif tag == "ContentProtectionData":
                    _clear(c)
                    c.text = _b64(content_protection(sid, kid, content_id, scheme))
                elif tag == "HLSSignalingData":
                    _clear(c)
                    c.text = _b64(hls_line(sid, kid, content_id, scheme,
                                           c.get("playlist")).encode())
                elif tag == "SmoothStreamingProtectionHeaderData":
                    _clear(c)
                    c.text = _b64(playready_object([kid], scheme))
        out = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        with app.lock:  # recorded only once the reply is made: a refusal issues nothing
            issue()
            for kid in kids:
                st["owner"][kid] = content_id
                st["keys"][kid] = keys[kid]
            st["issued"] += len(kids)
        return out

    def copy_protection(req):
        with app.lock:
            st["requests"] += 1
        headers = [("X-Speke-Version", (req.headers.get("X-Speke-Version") or "").strip()
                    or "2.0"), ("X-Speke-User-Agent", USER_AGENT)]
        try:
            root = check_request(req)
            with tempfile.TemporaryDirectory(prefix="ampmock-speke-") as tmp:
                body = fill(root, tmp)
        except Refusal as e:
            req.why = "speke: %s" % e
            return Response.text("%s\n" % e, 422, headers)
        except HttpError as e:
            return Response.text("%s\n" % e.message, e.status, headers)
        return Response(200, body, headers, "application/xml")

    def state(req):
        with app.lock:
            return Response.json({"requests": st["requests"], "issued": st["issued"],
                                  "kids": len(st["owner"])})

    def reset(req):
        with app.lock:
            st.update(requests=0, issued=0, keys={}, owner={})
        return state(req)

    app.on_reset(reset)
    app.route("POST", "/speke/v2.0/copyProtection", copy_protection)
    app.route("GET", "/_mock/speke", state)
    app.route("POST", "/_mock/speke/reset", reset)
