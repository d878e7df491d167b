# zpipe - a ZeroMQ push-pull pipeline in C.  `make run`, `make test`: see README.md.

PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc
PKG_CONFIG ?= pkg-config
PKGS       := libzmq libczmq libcrypto jansson
VERSION    := 0.1.0

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wconversion
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -DZP_VERSION=\"$(VERSION)\" \
              $(WARN) $(CFLAGS) -Ishared $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

# SANITIZE=address builds everything with ASan + UBSan; WERROR=1 turns warnings into errors.
ifeq ($(SANITIZE),address)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=address,undefined
endif
ifeq ($(WERROR),1)
ALL_CFLAGS += -Werror
endif

B := build
SHARED_SRC := $(wildcard shared/*.c)
SHARED_OBJ := $(SHARED_SRC:%.c=$(B)/%.o)
BINS       := bin/ventilator bin/worker bin/sink
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# Engines built for a wider instruction set than the baseline; they run only when
# the CPU says it supports them (zp_engine_supported).
$(B)/shared/%_avx2.o:   EXTRA := -mavx2 -mbmi2
$(B)/shared/%_avx512.o: EXTRA := -mavx512f -mavx512vl -mavx512bw -mbmi2

.PHONY: all run test check deps clean unit e2e bench soak install uninstall
all: $(BINS)

deps:
	@scripts/install-deps

$(B)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(EXTRA) -MMD -MP -c $< -o $@

define stage
bin/$(1): $$(patsubst %.c,$(B)/%.o,$$(wildcard $(1)/*.c)) $(SHARED_OBJ)
	@mkdir -p bin
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,ventilator worker sink,$(eval $(call stage,$(s))))

# A unit test of a stage's class names its object here and links it too.
$(B)/tests/test_ledger: $(B)/ventilator/ledger.o
$(B)/tests/test_journal: $(B)/sink/journal.o $(B)/sink/batch.o

$(B)/tests/%: tests/unit/%.c $(SHARED_OBJ) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS) -lcriterion

# The main job: sink, workers and ventilator on loopback, the default workload,
# the summary JSON on stdout.
run: deps
	@$(MAKE) -s all
	@scripts/run -- $(ARGS)

test: deps
	@$(MAKE) -s all $(UNIT_BINS)
	@scripts/run-tests

# Not part of `test`: 10 minutes of batches under random kills of every stage.
soak: deps
	@$(MAKE) -s all
	@tests/soak/soak.sh

-include $(shell find $(B) -name '*.d' 2>/dev/null)

clean:
	rm -rf $(B) bin
