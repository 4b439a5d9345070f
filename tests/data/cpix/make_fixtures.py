#!/usr/bin/env python3
"""Write the CPIX reply fixtures of tests/unit/test_ampack_cpix.c (committed; run again
only to change them). Python standard library plus the openssl command.

usage: make_fixtures.py [--new-key]

The documents follow the shape of the CPIX 2.3 examples (an encryptor-consumer reply:
ContentKeyList with pskc:Secret, DRMSystemList with PSSH, usage rules, and for content
key encryption DeliveryDataList with DocumentKey and MACMethod), written for the test's
own KIDs and keys:

  reply_clear.xml      two keys in the clear (cpix:/pskc: prefixes), a PlayReady system
                       the request did not ask for, the usage rules passed back
  reply_prefixes.xml   the same content with other prefixes (a default namespace for
                       CPIX, "k:" for PSKC): the parser must go by namespace URI
  reply_encrypted.xml  the same keys encrypted for delivery.pem (docs/speke.md §6):
                       DOC_KEY and MAC_KEY RSA-OAEP (SHA-1) encrypted, each content key
                       IV || AES-256-CBC under DOC_KEY, HMAC-SHA512 under MAC_KEY

delivery.pem / delivery.key: a throwaway self-signed RSA-2048 pair made for these
fixtures (--new-key makes a new one); it protects nothing but test data.
"""

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CONTENT_ID = "cpix-fixture-1"
# The test's KIDs and keys (tests/unit/test_ampack_cpix.c holds the same values).
KEYS = [("7a2c4e61-0b3d-4f58-9a17-c6e2d8f0a1b3", "3f8a1c5e7b9d2f4061a3c5e7f9b1d3e5"),
        ("1d9b5f03-6e2a-4c71-b8d4-0f3e7a9c2b56", "c0ffee00112233445566778899aabbcc")]
DOC_KEY = bytes(range(0x40, 0x60))               # 32 bytes
MAC_KEY = bytes(range(0x80, 0xc0))               # 64 bytes
IVS = [bytes([0x11 * (i + 1)] * 16) for i in range(len(KEYS))]
WIDEVINE = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
COMMON = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
PLAYREADY = "9a04f079-9840-4286-ab92-e65be0885f95"


def box(system, version, kids, data):
    body = bytes([version, 0, 0, 0]) + uuid.UUID(system).bytes
    if version == 1:
        body += len(kids).to_bytes(4, "big") + b"".join(kids)
    body += len(data).to_bytes(4, "big") + data
    return (8 + len(body)).to_bytes(4, "big") + b"pssh" + body


def widevine(kid):
    cid = CONTENT_ID.encode()
    return box(WIDEVINE, 0, [], b"\x12\x10" + kid + b"\x22" + bytes([len(cid)]) + cid)


def b64(raw):
    return base64.b64encode(raw).decode()


def openssl(*args, data=b""):
    return subprocess.run(["openssl"] + list(args), input=data, check=True,
                          capture_output=True).stdout


def doc(p, enc=None):
    """p: the prefixes {cpix, pskc}; '' is the default namespace. enc: (cert b64, rsa)."""
    def q(pre, name):
        return "%s:%s" % (p[pre], name) if p[pre] else name
    c = lambda n: q("cpix", n)
    k = lambda n: q("pskc", n)
    decl = " ".join('xmlns%s="%s"' % (":" + p[x] if p[x] else "", u) for x, u in
                    (("cpix", "urn:dashif:org:cpix"),
                     ("pskc", "urn:ietf:params:xml:ns:keyprov:pskc")))
    decl += (' xmlns:enc="http://www.w3.org/2001/04/xmlenc#"'
             ' xmlns:ds="http://www.w3.org/2000/09/xmldsig#"')
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<%s %s contentId="%s" version="2.3">' % (c("CPIX"), decl, CONTENT_ID)]
    if enc:
        cert, rsa = enc
        out += ['  <%s>' % c("DeliveryDataList"),
                '    <%s id="ampack">' % c("DeliveryData"),
                '      <%s><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate>'
                '</ds:X509Data></%s>' % (c("DeliveryKey"), cert, c("DeliveryKey")),
                '      <%s Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc">'
                % c("DocumentKey"),
                '        <%s><%s><%s>' % (c("Data"), k("Secret"), k("EncryptedValue")),
                '          <enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/'
                'xmlenc#rsa-oaep-mgf1p"/>',
                '          <enc:CipherData><enc:CipherValue>%s</enc:CipherValue>'
                '</enc:CipherData>' % rsa(DOC_KEY),
                '        </%s></%s></%s>' % (k("EncryptedValue"), k("Secret"), c("Data")),
                '      </%s>' % c("DocumentKey"),
                '      <%s Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha512">'
                % c("MACMethod"),
                '        <%s><%s>' % (c("Key"), k("EncryptedValue")),
                '          <enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/'
                'xmlenc#rsa-oaep-mgf1p"/>',
                '          <enc:CipherData><enc:CipherValue>%s</enc:CipherValue>'
                '</enc:CipherData>' % rsa(MAC_KEY),
                '        </%s></%s>' % (k("EncryptedValue"), c("Key")),
                '      </%s>' % c("MACMethod"),
                '    </%s>' % c("DeliveryData"),
                '  </%s>' % c("DeliveryDataList")]
    out.append('  <%s>' % c("ContentKeyList"))
    for i, (kid, key) in enumerate(KEYS):
        out.append('    <%s kid="%s" commonEncryptionScheme="cenc">' % (c("ContentKey"), kid))
        out.append('      <%s>' % c("Data"))
        out.append('        <%s>' % k("Secret"))
        if enc:
            ct = openssl("enc", "-aes-256-cbc", "-K", DOC_KEY.hex(), "-iv", IVS[i].hex(),
                         data=bytes.fromhex(key))
            value = IVS[i] + ct
            mac = hmac.new(MAC_KEY, value, hashlib.sha512).digest()
            out += ['          <%s>' % k("EncryptedValue"),
                    '            <enc:EncryptionMethod Algorithm="http://www.w3.org/2001/'
                    '04/xmlenc#aes256-cbc"/>',
                    '            <enc:CipherData><enc:CipherValue>%s</enc:CipherValue>'
                    '</enc:CipherData>' % b64(value),
                    '          </%s>' % k("EncryptedValue"),
                    '          <%s>%s</%s>' % (k("ValueMAC"), b64(mac), k("ValueMAC"))]
        else:
            out.append('          <%s>%s</%s>' % (k("PlainValue"), b64(bytes.fromhex(key)),
                                                  k("PlainValue")))
        out += ['        </%s>' % k("Secret"), '      </%s>' % c("Data"),
                '    </%s>' % c("ContentKey")]
    out.append('  </%s>' % c("ContentKeyList"))
    out.append('  <%s>' % c("DRMSystemList"))
    for kid, _ in KEYS:
        raw = uuid.UUID(kid).bytes
        for system, pssh in ((WIDEVINE, widevine(raw)), (COMMON, box(COMMON, 1, [raw], b""))):
            # base64 wrapped at 40 columns, as some providers send it
            text = b64(pssh)
            text = "\n        ".join(text[j:j + 40] for j in range(0, len(text), 40))
            out.append('    <%s kid="%s" systemId="%s">' % (c("DRMSystem"), kid, system))
            out.append('      <%s>\n        %s\n      </%s>' % (c("PSSH"), text, c("PSSH")))
            out.append('    </%s>' % c("DRMSystem"))
    out.append('    <%s kid="%s" systemId="%s"><%s>AAAA</%s></%s>'
               % (c("DRMSystem"), KEYS[0][0], PLAYREADY, c("SmoothStreamingProtectionHeaderData"),
                  c("SmoothStreamingProtectionHeaderData"), c("DRMSystem")))
    out.append('  </%s>' % c("DRMSystemList"))
    out.append('  <%s>' % c("ContentKeyUsageRuleList"))
    for kid, _ in KEYS:
        out.append('    <%s kid="%s" intendedTrackType="AUDIO"><%s minChannels="1" '
                   'maxChannels="2"/></%s>' % (c("ContentKeyUsageRule"), kid, c("AudioFilter"),
                                               c("ContentKeyUsageRule")))
    out.append('  </%s>' % c("ContentKeyUsageRuleList"))
    out.append('</%s>' % c("CPIX"))
    return "\n".join(out) + "\n"


def main():
    pem, key = os.path.join(HERE, "delivery.pem"), os.path.join(HERE, "delivery.key")
    if "--new-key" in sys.argv or not os.path.exists(key):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", pem,
                "-days", "36500", "-subj", "/CN=ampd cpix test fixture (throwaway)")
    with open(pem) as f:
        cert = "".join(l.strip() for l in f if not l.startswith("-----"))

    with tempfile.TemporaryDirectory() as tmp:
        pub = os.path.join(tmp, "pub.pem")
        with open(pub, "wb") as f:
            f.write(openssl("x509", "-in", pem, "-noout", "-pubkey"))

        def rsa(data):
            return b64(openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-pkeyopt",
                               "rsa_padding_mode:oaep", data=data))
        files = {"reply_clear.xml": doc({"cpix": "cpix", "pskc": "pskc"}),
                 "reply_prefixes.xml": doc({"cpix": "", "pskc": "k"}),
                 "reply_encrypted.xml": doc({"cpix": "cpix", "pskc": "pskc"}, (cert, rsa))}
    for name, text in files.items():
        with open(os.path.join(HERE, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
