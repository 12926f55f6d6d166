#!/usr/bin/env bash
# ci/deploy-check.sh: checks every deployment file of Kontakt (dialplans/, deploy/) with
# the real tool that reads it. Installs what is missing first (Debian 12, as root), so
# it runs on a fresh machine; idempotent and quick when everything is there.
#
#   bash ci/deploy-check.sh
#
# Environment:
#   KONTAKT_BIN      a built kontakt binary: the restore drill seeds the real schema with
#                    200 demo appeals, and systemd-analyze verifies the unit against it.
#                    Without it the drill uses an appeals-like table and the unit is
#                    verified against a stub executable.
#   PGHOST/PGPORT/PGUSER  the PostgreSQL of the drill (default 127.0.0.1:5432, postgres)
#   KONTAKT_CI_CACHE where the frslint venv is kept (default ~/.cache/kontakt-deploy-check)
#   SKIP_DRILL=1     skip the restore drill (no PostgreSQL at hand)
#
# Exit status: 0 when every check passed, 1 when any failed (all checks still run),
# 2 when the tools could not be installed. Which frslint findings fail the build:
#   - frslint analyze: every ERROR (undefined $${variable}, invalid regex, missing
#     attribute, bad break/continue value) and every WARNING (unknown application,
#     unreachable action after hangup/transfer, empty extension, duplicate context,
#     unclosed variable): the dialplans have none, so any new one is a regression.
#   - frslint lint: every finding (2-space indentation, trailing whitespace, tabs,
#     blank lines, final newline); line length at most 180 in dialplans and directory.
#     The configuration files (autoload_configs, sip_profiles) are linted with no line
#     limit, because the CDR template of cdr_csv.conf.xml must be one line.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$(date +%s)
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
cache="${KONTAKT_CI_CACHE:-${HOME:-/root}/.cache/kontakt-deploy-check}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0; failed=0; failures=()
log="$work/check.log"
# check NAME COMMAND...: runs the command, prints its output only when it fails.
check() {
  local name="$1"; shift
  local t0=$(date +%s%N)
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    printf '  ok    %-58s %5sms\n' "$name" $(( ($(date +%s%N) - t0) / 1000000 ))
  else
    failed=$((failed + 1)); failures+=("$name")
    printf '  FAIL  %s\n' "$name"
    sed 's/^/        | /' "$log" | tail -n 60
  fi
}

# ---------------------------------------------------------------- tools
echo "== tools"
need=()
want() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
want xmllint libxml2-utils
want systemd-analyze systemd
want nginx nginx
want kamailio kamailio
want promtool prometheus
want espeak-ng espeak-ng
want sox sox
want psql postgresql-client
want pg_dump postgresql-client
want pg_restore postgresql-client
want openssl openssl
want python3 python3
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if ((${#need[@]})); then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "  installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # nginx, kamailio and prometheus are only needed as checkers here: keep their packages
  # from starting the daemons (Debian's policy-rc.d mechanism), unless a policy exists.
  policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy"
    trap 'rm -f "$policy"; rm -rf "$work"' EXIT
  fi
  apt_opts=(-qq -o Dpkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  if ! { apt-get "${apt_opts[@]}" update >"$work/apt.log" 2>&1 &&
         apt-get "${apt_opts[@]}" install -y --no-install-recommends "${need[@]}" >>"$work/apt.log" 2>&1; }; then
    tail -n 30 "$work/apt.log"; echo "deploy-check: could not install ${need[*]}" >&2; exit 2
  fi
  if [[ -n "$policy" ]]; then rm -f "$policy"; trap 'rm -rf "$work"' EXIT; fi
fi
frslint="$cache/frslint-venv/bin/frslint"
if [[ ! -x "$frslint" ]]; then
  echo "  installing: frslint (PyPI) into $cache/frslint-venv"
  mkdir -p "$cache"
  rm -rf "$cache/frslint-venv"
  if ! { python3 -m venv "$cache/frslint-venv" &&
         "$cache/frslint-venv/bin/pip" install -q --disable-pip-version-check frslint; } >"$work/pip.log" 2>&1; then
    tail -n 30 "$work/pip.log"; echo "deploy-check: could not install frslint" >&2; exit 2
  fi
fi
echo "  xmllint $(xmllint --version 2>&1 | head -1 | grep -o '[0-9][0-9]*$'), $(systemd-analyze --version | head -1),"\
     "nginx $(nginx -v 2>&1 | cut -d/ -f2), $(kamailio -v | head -1 | cut -d' ' -f2-3), promtool $(promtool --version 2>&1 | head -1 | cut -d' ' -f3),"\
     "espeak-ng $(espeak-ng --version | cut -d' ' -f4), frslint $("$cache/frslint-venv/bin/pip" show frslint 2>/dev/null | sed -n 's/^Version: //p')"

# ---------------------------------------------------------------- XML
echo "== XML (xmllint --noout, every .xml in dialplans/ and deploy/)"
mapfile -t xmls < <(find dialplans deploy -name '*.xml' | sort)
for f in "${xmls[@]}"; do check "xmllint $f" xmllint --noout "$f"; done

no_preprocess_in_comments() {
  # FreeSWITCH runs preprocessor tags even inside XML comments: none may be there.
  python3 - "${xmls[@]}" <<'PY'
import re, sys
bad = 0
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"<!--.*?-->", text, re.S):
        if "X-PRE-PROCESS" in m.group(0):
            line = text.count("\n", 0, m.start()) + 1
            print(f"{path}:{line}: a comment contains X-PRE-PROCESS (FreeSWITCH would run it)")
            bad += 1
sys.exit(1 if bad else 0)
PY
}
check "no preprocessor tag inside an XML comment" no_preprocess_in_comments

# ---------------------------------------------------------------- FreeSWITCH tree
# A stock-shaped configuration tree in $fs, as deploy/README.md installs it.
fs="$work/freeswitch"
mkdir -p "$fs/kontakt" "$fs/autoload_configs" "$fs/dialplan/public" "$fs/directory" "$fs/sip_profiles"
cp dialplans/kontakt_numbers.xml deploy/freeswitch/vars/kontakt_vars.xml "$fs/kontakt/"
cp deploy/freeswitch/event_socket.conf.xml deploy/freeswitch/acl.conf.xml deploy/freeswitch/modules.conf.xml \
   deploy/freeswitch/cdr_csv.conf.xml "$fs/autoload_configs/"
cp -r deploy/freeswitch/sip_profiles/. "$fs/sip_profiles/"
cp dialplans/kontakt_degraded.xml dialplans/kontakt_operators.xml dialplans/kontakt_outbound.xml "$fs/dialplan/"
cp dialplans/public/*.xml "$fs/dialplan/public/"
cp dialplans/directory/*.xml "$fs/directory/"
cat > "$fs/vars.xml" <<'XML'
<include>
  <X-PRE-PROCESS cmd="set" data="domain=$${local_ip_v4}"/>
  <X-PRE-PROCESS cmd="set" data="domain_name=$${domain}"/>
  <X-PRE-PROCESS cmd="include" data="kontakt/*.xml"/>
</include>
XML
cat > "$fs/autoload_configs/sofia.conf.xml" <<'XML'
<configuration name="sofia.conf" description="sofia Endpoint">
  <profiles>
    <X-PRE-PROCESS cmd="include" data="../sip_profiles/*.xml"/>
  </profiles>
</configuration>
XML
cat > "$fs/dialplan/public.xml" <<'XML'
<include>
  <context name="public">
    <X-PRE-PROCESS cmd="include" data="public/*.xml"/>
  </context>
</include>
XML
root_xml() {  # root_xml FILE SECTION... : a freeswitch.xml with only those sections
  local out="$1"; shift
  {
    echo '<?xml version="1.0"?>'
    echo '<document type="freeswitch/xml">'
    echo '  <X-PRE-PROCESS cmd="include" data="vars.xml"/>'
    for s in "$@"; do
      case "$s" in
        configuration) echo '  <section name="configuration" description="Various Configuration">'
                       echo '    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>' ;;
        dialplan) echo '  <section name="dialplan" description="Regex/XML Dialplan">'
                  echo '    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>' ;;
        directory) echo '  <section name="directory" description="User Directory">'
                   echo '    <X-PRE-PROCESS cmd="include" data="directory/*.xml"/>' ;;
      esac
      echo '  </section>'
    done
    echo '</document>'
  } > "$fs/$out"
}
root_xml freeswitch.xml configuration dialplan directory
root_xml lint-dialplan.xml dialplan directory
root_xml lint-config.xml configuration

echo "== FreeSWITCH (frslint $("$cache/frslint-venv/bin/pip" show frslint 2>/dev/null | sed -n 's/^Version: //p'), secrets script, Event Socket rules)"
check "make-secrets.sh writes the secrets file" bash -c \
  "deploy/freeswitch/make-secrets.sh '$fs/kontakt/kontakt_secrets.xml' >/dev/null && xmllint --noout '$fs/kontakt/kontakt_secrets.xml' && ! deploy/freeswitch/make-secrets.sh '$fs/kontakt/kontakt_secrets.xml' 2>/dev/null"
frslint_analyze() {
  # frslint's exit status counts errors only; warnings fail here too (see the header).
  "$frslint" analyze "$fs/freeswitch.xml" || return 1
  "$frslint" analyze -f json "$fs/freeswitch.xml" | python3 -c '
import json, sys
s = json.load(sys.stdin)["summary"]
print("frslint analyze: %(errors)d errors, %(warnings)d warnings, %(info)d info" % s)
sys.exit(1 if s["errors"] or s["warnings"] else 0)'
}
check "frslint analyze (whole tree: errors and warnings fail)" frslint_analyze
check "frslint lint dialplans + directory (max line 180)" "$frslint" lint --max-line-length 180 "$fs/lint-dialplan.xml"
check "frslint lint autoload_configs + sip_profiles" "$frslint" lint --max-line-length 100000 "$fs/lint-config.xml"

esl_rules() {
  local f=deploy/freeswitch/event_socket.conf.xml
  # ClueCon (the stock password) must not be a value anywhere (comments may name it).
  if grep -rniE '"[^"<>]*cluecon[^"<>]*"' dialplans deploy --include='*.xml'; then echo "the default password ClueCon is used"; return 1; fi
  [[ "$(xmllint --xpath 'string(//param[@name="password"]/@value)' "$f")" == '$${kontakt_fs_esl_password}' ]] || { echo "password is not the preprocessor variable kontakt_fs_esl_password"; return 1; }
  [[ "$(xmllint --xpath 'string(//param[@name="listen-ip"]/@value)' "$f")" == '$${kontakt_fs_esl_listen_ip}' ]] || { echo "listen-ip is not kontakt_fs_esl_listen_ip"; return 1; }
  [[ "$(xmllint --xpath 'string(//param[@name="apply-inbound-acl"]/@value)' "$f")" == 'kontakt_esl' ]] || { echo "no ACL kontakt_esl"; return 1; }
  xmllint --xpath '//list[@name="kontakt_esl" and @default="deny"]' deploy/freeswitch/acl.conf.xml >/dev/null || { echo "ACL kontakt_esl missing or not default deny"; return 1; }
  local ip; ip="$(sed -n 's/.*data="kontakt_fs_esl_listen_ip=\([^"]*\)".*/\1/p' deploy/freeswitch/vars/kontakt_vars.xml)"
  [[ -n "$ip" && "$ip" != "0.0.0.0" && "$ip" != "::" ]] || { echo "ESL listens on '$ip' (all addresses)"; return 1; }
  grep -q 'kontakt_fs_esl_password=' "$fs/kontakt/kontakt_secrets.xml" || { echo "make-secrets.sh wrote no ESL password"; return 1; }
  grep -q 'mod_event_socket' deploy/freeswitch/modules.conf.xml || { echo "modules.conf.xml does not load mod_event_socket"; return 1; }
}
check "Event Socket: own address, ACL, password variable, never ClueCon" esl_rules

dialplan_semantics() {
  python3 - "$fs" dialplans/VARIABLES.md deploy/prompts/prompts.tsv <<'PY'
import glob, os, re, sys
import xml.etree.ElementTree as ET
fs, variables_md, prompts_tsv = sys.argv[1:4]
errors = []
# Preprocessor variables, as FreeSWITCH would set them.
pre = {"local_ip_v4": "127.0.0.1", "recordings_dir": "/var/lib/freeswitch/recordings"}
def expand(s):
    return re.sub(r"\$\$\{([^}]+)\}", lambda m: pre.get(m.group(1), m.group(0)), s)
for f in ["vars.xml"] + sorted(glob.glob(os.path.join(fs, "kontakt", "*.xml"))):
    for m in re.finditer(r'<X-PRE-PROCESS\s+cmd="set"\s+data="([^"=]+)=([^"]*)"', open(os.path.join(fs, f)).read()):
        pre[m.group(1)] = expand(m.group(2))
files = sorted(glob.glob(os.path.join(fs, "dialplan", "**", "*.xml"), recursive=True)) + \
        sorted(glob.glob(os.path.join(fs, "directory", "*.xml")))
texts = {f: open(f, encoding="utf-8").read() for f in files}
# 1. every $${var} used is defined; every ${kontakt_*} read is set somewhere or global.
set_vars = set()
for f, t in texts.items():
    for v in re.findall(r"\$\$\{([^}]+)\}", t):
        if v not in pre:
            errors.append(f"{f}: $${{{v}}} is never set")
    set_vars |= set(re.findall(r'data="(kontakt_[a-z0-9_]+)=', t))
    set_vars |= set(re.findall(r'<variable name="(kontakt_[a-z0-9_]+)"', t))
read_ok = set_vars | set(pre) | {"kontakt_accepted", "kontakt_callback_digits"}
for f, t in texts.items():
    for v in re.findall(r"(?<!\$)\$\{(kontakt_[a-z0-9_]+)\}", t):
        if v not in read_ok:
            errors.append(f"{f}: ${{{v}}} is read but never set")
# 2. VARIABLES.md lists exactly the kontakt_* channel variables the dialplans set.
table = set()
for row in open(variables_md, encoding="utf-8"):
    if row.startswith("| kontakt_"):
        cells = [c.strip() for c in row.strip().split("|")]
        if len(cells) != 5 or cells[0] or cells[-1] or not all(cells[1:4]):
            errors.append(f"VARIABLES.md: not '| name | set where | meaning |': {row.strip()}")
        elif not re.fullmatch(r"kontakt_[a-z0-9_]+", cells[1]):
            errors.append(f"VARIABLES.md: bad name {cells[1]!r}")
        elif cells[1] in table:
            errors.append(f"VARIABLES.md: {cells[1]} listed twice")
        else:
            table.add(cells[1])
for v in sorted(set_vars - table):
    errors.append(f"VARIABLES.md: {v} is set by the dialplans but not in the table")
for v in sorted(table - set_vars):
    errors.append(f"VARIABLES.md: {v} is in the table but no dialplan sets it")
# 3. the public context: each number, in every form a carrier sends, reaches its line.
public = ET.fromstring(texts[os.path.join(fs, "dialplan", "public", "00_kontakt.xml")])
def route(dest):
    lines = []
    for ext in public.iter("extension"):
        for cond in ext.iter("condition"):
            if cond.get("field") == "destination_number" and re.search(expand(cond.get("expression")), dest):
                for a in cond.iter("action"):
                    m = re.match(r"kontakt_line=(.*)", a.get("data", ""))
                    if m:
                        lines.append(expand(m.group(1)))
    return lines
cases = {pre["kontakt_number_short"]: pre["kontakt_line_short"]}
for x in "abc":
    n = pre[f"kontakt_number_{x}"]
    for form in (f"+380{n}", f"380{n}", f"0{n}", n):
        cases[form] = pre[f"kontakt_line_{x}"]
for dest, line in cases.items():
    got = route(dest)
    if got != [line]:
        errors.append(f"public: {dest} reaches lines {got}, expected [{line}]")
for dest in ("1581", "15800", "112", "+380440000000", "1001"):
    if route(dest):
        errors.append(f"public: {dest} should not reach Kontakt but reaches {route(dest)}")
if len({pre[f'kontakt_line_{x}'] for x in ('short', 'a', 'b', 'c')}) != 4:
    errors.append("kontakt_numbers.xml: the four line ids are not distinct")
handoff = texts[os.path.join(fs, "dialplan", "public", "00_kontakt.xml")]
if 'application="socket" data="${kontakt_esl_host}:${kontakt_esl_port} async full"' not in handoff:
    errors.append("public: no socket ${kontakt_esl_host}:${kontakt_esl_port} async full")
if not re.search(r'application="socket"[^\n]*\n(?:.*\n)*?.*application="transfer" data="kontakt_degraded XML kontakt_degraded"', handoff):
    errors.append("public: the socket is not followed by the transfer to degraded mode")
# 4. every prompt the dialplans play exists in prompts.tsv.
prompts = {(l.split("\t")[0]) for l in open(prompts_tsv, encoding="utf-8") if l.strip() and not l.startswith("#")}
for f, t in texts.items():
    for p in re.findall(r"([a-z0-9-]+)\.wav", t):
        if p not in prompts and "${uuid}" not in p:
            errors.append(f"{f}: plays {p}.wav, which prompts.tsv does not have")
for e in errors:
    print(e)
print(f"{len(cases)} numbers routed, {len(set_vars)} kontakt_* variables set, {len(table)} in VARIABLES.md")
sys.exit(1 if errors else 0)
PY
}
check "dialplans: routing of every number, variables vs VARIABLES.md" dialplan_semantics

# ---------------------------------------------------------------- systemd
echo "== systemd (systemd-analyze verify)"
unit_dir="$work/systemd"; mkdir -p "$unit_dir"
if [[ -n "${KONTAKT_BIN:-}" && -x "${KONTAKT_BIN:-}" ]]; then
  bin="$(readlink -f "$KONTAKT_BIN")"
else
  bin="$work/bin/kontakt"; mkdir -p "$work/bin"
  printf '#!/bin/sh\nexit 0\n' > "$bin"; chmod +x "$bin"
fi
# verify needs the ExecStart binary: point the unit at KONTAKT_BIN or the stub.
sed "s#/usr/local/bin/kontakt#$bin#g" deploy/systemd/kontakt.service > "$unit_dir/kontakt.service"
mkdir -p "$work/lib"; printf '#!/bin/sh\nexit 0\n' > "$work/lib/backup.sh"; chmod +x "$work/lib/backup.sh"
sed "s#/usr/local/lib/kontakt/backup.sh#$work/lib/backup.sh#" deploy/postgresql/kontakt-backup.service > "$unit_dir/kontakt-backup.service"
cp deploy/postgresql/kontakt-backup.timer "$unit_dir/"
verify() { local out; out="$(systemd-analyze verify "$@" 2>&1)"; local rc=$?; echo "$out"; [[ $rc -eq 0 && -z "$out" ]]; }
check "systemd-analyze verify kontakt.service" verify "$unit_dir/kontakt.service"
check "systemd-analyze verify kontakt-backup.service + .timer" verify "$unit_dir/kontakt-backup.service" "$unit_dir/kontakt-backup.timer"
cp deploy/freeswitch/kontakt-recordings-cleanup.service deploy/freeswitch/kontakt-recordings-cleanup.timer "$unit_dir/"
check "systemd-analyze verify kontakt-recordings-cleanup.service + .timer" verify "$unit_dir/kontakt-recordings-cleanup.service" "$unit_dir/kontakt-recordings-cleanup.timer"
recordings_cleanup_drill() {
  # The unit's own find commands, run on a scratch tree: old audio and its emptied day
  # directories go; new audio, other files and voicemail/ stay.
  local d="$work/recordings" u=deploy/freeswitch/kontakt-recordings-cleanup.service
  rm -rf "$d"; mkdir -p "$d/2026/01/02" "$d/voicemail/2026/01/03" "$d/2026/11/29"
  touch -d '120 days ago' "$d/2026/01/02/a.wav" "$d/voicemail/2026/01/03/b.WAV" "$d/2026/01/02/notes.txt"
  touch "$d/2026/11/29/c.wav"
  local start post
  start=$(sed -n 's/^ExecStart=//p' "$u" | sed "s#\${RECORDINGS}#$d#g; s#\${RETENTION_DAYS}#90#g")
  post=$(sed -n 's/^ExecStartPost=//p' "$u" | sed "s#\${RECORDINGS}#$d#g")
  eval "$start" && eval "$post" || return 1
  [[ ! -e "$d/2026/01/02/a.wav" && ! -e "$d/voicemail/2026" && -d "$d/voicemail" \
     && -e "$d/2026/01/02/notes.txt" && -e "$d/2026/11/29/c.wav" ]] || { find "$d"; return 1; }
}
check "recordings cleanup: the unit's commands delete exactly the expired audio" recordings_cleanup_drill
hardening() {
  local u=deploy/systemd/kontakt.service
  for kv in User=kontakt ProtectSystem=strict NoNewPrivileges=yes StateDirectory=kontakt ReadWritePaths=/var/lib/kontakt \
            "ExecStart=/usr/local/bin/kontakt --config /etc/kontakt/kontakt.toml serve" PrivateTmp=yes ProtectHome=yes; do
    grep -qx "$kv" "$u" || { echo "$u lacks $kv"; return 1; }
  done
  [[ "$(grep -c '^ReadWritePaths=' "$u")" == 1 ]] || { echo "more than one ReadWritePaths"; return 1; }
  local score; score="$(systemd-analyze security --offline=true "$unit_dir/kontakt.service" 2>/dev/null | sed -n 's/.*exposure level for .*: \([0-9.]*\).*/\1/p')"
  echo "exposure score: $score"
  [[ -n "$score" ]] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { echo "exposure score above 2.0"; return 1; }
}
check "kontakt.service hardening (systemd-analyze security <= 2.0)" hardening
env_keys() {
  # Every KONTAKT_<SECTION>_<KEY> in kontakt.env.example is a key of kontakt.example.toml.
  python3 - <<'PY'
import re, sys, tomllib
toml = tomllib.load(open("deploy/kontakt.example.toml", "rb"))
known = {f"KONTAKT_{s.upper()}_{k.upper()}" for s, t in toml.items() for k in t}
bad = []
for line in open("deploy/systemd/kontakt.env.example"):
    m = re.match(r"^(KONTAKT_[A-Z_]+)=", line)
    if m and m.group(1) not in known:
        bad.append(m.group(1))
print("unknown keys:", bad) if bad else print(f"{len(known)} keys known")
sys.exit(1 if bad else 0)
PY
}
check "kontakt.env.example names only keys of kontakt.example.toml" env_keys

# ---------------------------------------------------------------- nginx
echo "== nginx (nginx -t with a self-signed certificate)"
ng="$work/nginx"; mkdir -p "$ng"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=hotline.example.gov.ua" \
  -keyout "$ng/privkey.pem" -out "$ng/fullchain.pem" >/dev/null 2>&1
sed "s#/etc/ssl/kontakt/#$ng/#g" deploy/nginx/kontakt.conf > "$ng/kontakt.conf"
cat > "$ng/nginx.conf" <<NGX
pid $ng/nginx.pid;
error_log $ng/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $ng/body;
    proxy_temp_path $ng/proxy;
    fastcgi_temp_path $ng/fastcgi;
    uwsgi_temp_path $ng/uwsgi;
    scgi_temp_path $ng/scgi;
    include /etc/nginx/mime.types;
    include $ng/kontakt.conf;
}
NGX
check "nginx -t (site deploy/nginx/kontakt.conf)" nginx -t -q -c "$ng/nginx.conf" -p "$ng"
nginx_rules() {
  local f=deploy/nginx/kontakt.conf
  grep -q 'location /ws/' "$f" && grep -q 'proxy_set_header Upgrade \$http_upgrade' "$f" || { echo "no WebSocket upgrade for /ws/"; return 1; }
  grep -q 'location /api/' "$f" || { echo "no /api/"; return 1; }
  grep -q 'server 127.0.0.1:8080' "$f" || { echo "upstream is not 127.0.0.1:8080"; return 1; }
  grep -q 'listen 443 ssl' "$f" && grep -q 'return 301 https' "$f" || { echo "no TLS or no redirect to HTTPS"; return 1; }
}
check "nginx site: TLS, /api/, /ws/ upgrade, backend 127.0.0.1:8080" nginx_rules

# ---------------------------------------------------------------- Kamailio
echo "== Kamailio (kamailio -c)"
km="$work/kamailio"; mkdir -p "$km"
cp deploy/kamailio/dispatcher.list deploy/kamailio/address.list "$km/"
sed "s#/etc/kamailio/#$km/#g" deploy/kamailio/kamailio.cfg > "$km/kamailio.cfg"
check "kamailio -c -f deploy/kamailio/kamailio.cfg" kamailio -c -f "$km/kamailio.cfg"
dispatcher_rules() {
  local n; n="$(grep -cE '^1 sip:' deploy/kamailio/dispatcher.list)"
  [[ "$n" -ge 2 ]] || { echo "fewer than two FreeSWITCH nodes in set 1"; return 1; }
  grep -q 'ds_probing_mode", 1' deploy/kamailio/kamailio.cfg && grep -q 'ds_mark_dst' deploy/kamailio/kamailio.cfg \
    || { echo "no OPTIONS probing or no marking of failed nodes"; return 1; }
}
check "dispatcher: >= 2 nodes, OPTIONS probing, failed node marked" dispatcher_rules

# ---------------------------------------------------------------- Prometheus, Grafana
echo "== monitoring (promtool, Grafana JSON)"
check "promtool check rules kontakt-alerts.yml" promtool check rules deploy/monitoring/kontakt-alerts.yml
check "promtool check config prometheus.yml" promtool check config deploy/monitoring/prometheus.yml
check "promtool test rules kontakt-alerts.test.yml" bash -c "cd deploy/monitoring && promtool test rules kontakt-alerts.test.yml"
alert_rules() {
  local f=deploy/monitoring/kontakt-alerts.yml
  for e in 'kontakt_esl_connected == 0' 'kontakt_queue_service_level < 0.8' 'kontakt_journal_depth' 'sum(kontakt_agents{state!="logged_out"}) == 0'; do
    grep -qF "$e" "$f" || { echo "no rule with: $e"; return 1; }
  done
}
check "alert rules: ESL, service level, journal, no operator" alert_rules
check "Grafana dashboard JSON parses" python3 -c '
import json, sys
d = json.load(open("deploy/monitoring/grafana-kontakt.json"))
assert d["panels"] and all(p["targets"][0]["expr"] for p in d["panels"]), "panels without queries"
print(len(d["panels"]), "panels")'

# ---------------------------------------------------------------- prompts
echo "== prompts (generate.sh with espeak-ng + sox)"
prompts_out="$work/prompts"
check "generate.sh runs" deploy/prompts/generate.sh "$prompts_out"
prompts_complete() {
  python3 - "$prompts_out" <<'PY'
import os, subprocess, sys
out = sys.argv[1]
rows = [l.rstrip("\n").split("\t") for l in open("deploy/prompts/prompts.tsv", encoding="utf-8") if l.strip() and not l.startswith("#")]
langs = sorted({r[1] for r in rows})
have = {(r[0], r[1]) for r in rows}
menu = [l.strip() for l in open("deploy/prompts/menu.txt") if l.strip() and not l.startswith("#")]
errors = []
for name in menu:
    for lang in langs:
        if (name, lang) not in have:
            errors.append(f"prompts.tsv has no {lang} text for {name}")
        path = os.path.join(out, lang, name + ".wav")
        if not os.path.isfile(path):
            errors.append(f"missing {path}")
            continue
        info = subprocess.run(["soxi", path], capture_output=True, text=True).stdout
        if "Sample Rate    : 8000" not in info or "Channels       : 1" not in info or "Precision      : 16-bit" not in info:
            errors.append(f"{path} is not 8 kHz mono 16-bit")
        if os.path.getsize(path) < 2000:
            errors.append(f"{path} is nearly empty")
for e in errors:
    print(e)
print(f"{len(menu)} menu prompts x {len(langs)} languages ({', '.join(langs)})")
sys.exit(1 if errors else 0)
PY
}
check "every menu prompt generated, 8 kHz mono 16-bit, uk + en" prompts_complete
check "generate.sh is reproducible (second run, same SHA256SUMS)" bash -c \
  "deploy/prompts/generate.sh '$work/prompts2' >/dev/null && diff '$prompts_out/SHA256SUMS' '$work/prompts2/SHA256SUMS'"

# ---------------------------------------------------------------- PostgreSQL
echo "== PostgreSQL (restore drill against $PGHOST:$PGPORT)"
role_sql() {
  # Runs create-role-and-database.sql twice (it must be idempotent) with the names
  # kontakt -> kontakt_ci_<pid>, then drops that role and database again.
  local n="kontakt_ci_$$"
  sed -E "s/\bkontakt\b/$n/g" deploy/postgresql/create-role-and-database.sql > "$work/role.sql"
  local rc=0
  for i in 1 2; do
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -v kontakt_password="ci-$RANDOM$RANDOM" -f "$work/role.sql" || rc=1
  done
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $n WITH (FORCE)" -c "DROP ROLE IF EXISTS $n" || rc=1
  return $rc
}
check "create-role-and-database.sql runs twice (scratch names, dropped)" role_sql
env_with_kontakt() {
  # kontakt.env.example + kontakt.example.toml, as the service uses them, with the URL
  # pointed at a scratch database: kontakt migrate, then kontakt check-config.
  local db="kontakt_envcheck_$$" rc=0
  psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" || return 1
  sed "s#^KONTAKT_DATABASE_URL=.*#KONTAKT_DATABASE_URL=postgres://$PGUSER@$PGHOST:$PGPORT/$db#" \
    deploy/systemd/kontakt.env.example > "$work/kontakt.env"
  env -u KONTAKT_BIN bash -c 'set -a; . "$1"; set +a; "$2" --config deploy/kontakt.example.toml migrate && "$2" --config deploy/kontakt.example.toml check-config' \
    _ "$work/kontakt.env" "$bin" || rc=1
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || rc=1
  return $rc
}
if [[ -n "${KONTAKT_BIN:-}" && -x "${KONTAKT_BIN:-}" ]]; then
  check "kontakt migrate + check-config with kontakt.env.example (scratch db)" env_with_kontakt
else
  echo "  skip  kontakt check-config with kontakt.env.example (KONTAKT_BIN not set)"
fi
if [[ "${SKIP_DRILL:-0}" == 1 ]]; then
  echo "  skip  restore drill (SKIP_DRILL=1)"
else
  check "restore-drill.sh: backup, drop, restore, compare appeals" deploy/postgresql/restore-drill.sh
  grep -E '^drill: (seeding|before|after|OK)' "$log" | sed 's/^/        /'
fi
check "shell scripts parse (bash -n)" bash -c 'for f in deploy/*/*.sh ci/deploy-check.sh; do bash -n "$f" || exit 1; done'

# ---------------------------------------------------------------- summary
echo "== $passed passed, $failed failed in $(( $(date +%s) - started ))s"
if ((failed)); then
  printf '   failed: %s\n' "${failures[@]}"
  exit 1
fi
