#!/usr/bin/env bash
# Generates Kontakt's IVR prompts from prompts.tsv with espeak-ng, as FreeSWITCH expects
# them: WAV, 8 kHz, mono, 16-bit signed PCM, one file per prompt and language:
#     <out>/<language>/<name>.wav
# A city replaces any prompt with a recorded voice, file by file: put the recording at
# overrides/<language>/<name>.wav (any format sox reads; it is converted the same way)
# or point KONTAKT_PROMPT_OVERRIDES at another directory of that layout.
# Reproducible: fixed voices, speed and pitch, sox without dither (-D) and with its fixed
# random seed (-R); the same espeak-ng and sox versions give byte-identical files
# (<out>/SHA256SUMS lists them).
#
# Usage: generate.sh [OUT_DIR]        (default: ./out next to this script)
#   then install:  cp -r OUT_DIR/* /usr/share/freeswitch/sounds/kontakt/
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/out}"
tsv="${KONTAKT_PROMPTS_TSV:-$here/prompts.tsv}"
overrides="${KONTAKT_PROMPT_OVERRIDES:-$here/overrides}"

for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool is missing (apt-get install espeak-ng sox)" >&2; exit 2; }
done

voice_for() {
  case "$1" in
    uk) echo "uk" ;;
    en) echo "en-gb" ;;
    *) echo "generate.sh: no espeak-ng voice configured for language '$1'" >&2; return 1 ;;
  esac
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
n=0; over=0
while IFS=$'\t' read -r name lang text; do
  [[ -z "${name// /}" || "$name" == \#* ]] && continue
  if [[ -z "$lang" || -z "$text" ]]; then
    echo "generate.sh: malformed row for '$name' in $tsv" >&2; exit 1
  fi
  if [[ ! "$name" =~ ^[a-z0-9-]+$ ]]; then
    echo "generate.sh: bad prompt name '$name' (use a-z, 0-9 and -)" >&2; exit 1
  fi
  mkdir -p "$out/$lang"
  dest="$out/$lang/$name.wav"
  src=""
  for ext in wav flac ogg mp3; do
    if [[ -f "$overrides/$lang/$name.$ext" ]]; then src="$overrides/$lang/$name.$ext"; break; fi
  done
  if [[ -n "$src" ]]; then
    over=$((over + 1))
  else
    voice="$(voice_for "$lang")"
    src="$tmp/raw.wav"
    espeak-ng -v "$voice" -s 150 -p 50 -a 150 -w "$src" -- "$text"
  fi
  # Resample to 8 kHz mono 16-bit, normalise to -3 dBFS, half a second of silence after.
  sox -D -R -q "$src" -r 8000 -c 1 -b 16 -e signed-integer "$dest" norm -3 pad 0 0.3
  n=$((n + 1))
done < "$tsv"

(cd "$out" && find . -name '*.wav' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum > SHA256SUMS)
echo "generate.sh: $n prompts written to $out ($over from recorded overrides)"
