# Galley - the two commands: `make run` and `make test`. See README.md.
BUILD      ?= build
SAN_BUILD  ?= build-san
FUZZ_BUILD ?= build-fuzz
HTTP       ?= 127.0.0.1:8090
FUZZ_TIME  ?= 60
JOBS       ?= $(shell nproc)
PYTEST      = /usr/bin/python3 -m pytest
CMAKE_GEN   = -G Ninja

.PHONY: all bootstrap build run test unit api sanitize fuzz bench format clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: bootstrap $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	mkdir -p galley_data
	$(BUILD)/galley serve --http $(HTTP)

# Every test: unit (ctest) and black-box API (pytest), then the same under ASan+UBSan.
test: build
	$(MAKE) --no-print-directory unit api
	$(MAKE) --no-print-directory sanitize

unit:
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

api:
	GALLEY_BUILD=$(abspath $(BUILD)) $(PYTEST) -q tests/api

sanitize: bootstrap
	cmake -S . -B $(SAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
	  -DGLY_SANITIZE=address,undefined >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)
	GALLEY_BUILD=$(abspath $(SAN_BUILD)) GALLEY_SANITIZED=1 $(PYTEST) -q tests/api

fuzz: bootstrap
	cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang -DGLY_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	scripts/fuzz $(FUZZ_BUILD) $(FUZZ_TIME)

bench: build
	@scripts/bootstrap --bench
	bench/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
