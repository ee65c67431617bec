#!/bin/sh
# Builds the policy core of a git revision (default HEAD) into dist/.baseline, for
# bench/differential.ts. Usage: sh bench/build-baseline.sh [REV]
set -eu
cd "$(dirname "$0")/.."
rev="${1:-HEAD}"
rm -rf dist/.baseline
mkdir -p dist/.baseline
git archive "$rev" src tsconfig.json | tar -x -C dist/.baseline
cd dist/.baseline
sed -i 's#"include": \[.*\]#"include": ["src/**/*.ts"]#' tsconfig.json
../../node_modules/.bin/tsc -p .
echo "baseline $rev built in dist/.baseline/dist/src"
