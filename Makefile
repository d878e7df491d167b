# zpipe - a ZeroMQ push-pull pipeline in C.  `make run`, `make test`: see README.md.

PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc
PKG_CONFIG ?= pkg-config
PKGS       := libzmq libczmq libcrypto jansson libmicrohttpd
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

# B: objects and test binaries; BIN: the executables. `make check` builds
# its -Werror and sanitizer variants into directories of their own.
B   ?= build
BIN ?= bin
SHARED_SRC := $(wildcard shared/*.c)
SHARED_OBJ := $(SHARED_SRC:%.c=$(B)/%.o)
BINS       := $(BIN)/ventilator $(BIN)/worker $(BIN)/sink $(BIN)/zpipe-keygen
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)
BENCH_SRC  := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)
# Handler libraries: the examples (docs/examples/*.c) and the tests' own.
EXAMPLE_SRC  := $(wildcard docs/examples/*.c)
EXAMPLES     := $(EXAMPLE_SRC:docs/examples/%.c=$(B)/examples/lib%.so)
TEST_HANDLERS := $(B)/handlers/libcrashy.so $(B)/handlers/libcrashy-batch.so \
                 $(B)/handlers/libbadabi.so

# Engines built for a wider instruction set than the baseline; they run only when
# the CPU says it supports them (zp_engine_supported).
$(B)/shared/%_avx2.o:   EXTRA := -mavx2 -mbmi2
$(B)/shared/%_avx512.o: EXTRA := -mavx512f -mavx512vl -mavx512bw -mbmi2

.PHONY: all run test check fuzz deps clean install uninstall tests install-systemd \
        uninstall-systemd examples soak-pause soak bench sim
all: $(BINS)

# Everything `scripts/run-tests` runs needs: the stages, unit tests, tools.
tests: $(BINS) $(UNIT_BINS) $(TOOL_BINS) $(EXAMPLES) $(TEST_HANDLERS) $(B)/sim/sim

# Example handler libraries (README, "Your own code in the worker").
examples: $(EXAMPLES)

$(B)/examples/lib%.so: docs/examples/%.c shared/zpipe_handler.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $<

$(B)/handlers/lib%.so: tests/handlers/%.c shared/zpipe_handler.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $<

$(B)/handlers/libcrashy-batch.so: tests/handlers/crashy.c shared/zpipe_handler.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DCRASHY_BATCH=4 -fPIC -shared $(LDFLAGS) -o $@ $<

deps:
	@scripts/install-deps

$(B)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(EXTRA) -MMD -MP -c $< -o $@

define stage
$(BIN)/$(1): $$(patsubst %.c,$(B)/%.o,$$(wildcard $(1)/*.c)) $(SHARED_OBJ)
	@mkdir -p $(BIN)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,ventilator worker sink,$(eval $(call stage,$(s))))

$(BIN)/zpipe-keygen: $(B)/keygen/main.o
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A unit test of a stage's class names its object here and links it too.
$(B)/tests/test_ledger: $(B)/ventilator/ledger.o
$(B)/tests/test_core: $(B)/ventilator/core.o $(B)/ventilator/ledger.o
$(B)/tests/test_journal: $(B)/sink/journal.o $(B)/sink/batch.o
$(B)/tests/test_stats: $(B)/sink/stats.o $(B)/sink/observe.o
$(B)/tests/test_stream: $(B)/sink/batch.o
$(B)/tests/test_handler: $(B)/worker/exec.o $(B)/worker/handler.o

$(B)/tests/%: tests/unit/%.c $(SHARED_OBJ) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS) -lcriterion

# Helpers the end-to-end tests run (tests/tools/): a hostile peer.
$(B)/tools/%: tests/tools/%.c $(SHARED_OBJ) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(SHARED_OBJ) $(LDLIBS)

# test_batch checks the sink's summary writer, so it links the sink's batch.o.
$(B)/tests/test_batch: tests/unit/test_batch.c $(B)/sink/batch.o $(SHARED_OBJ) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(B)/sink/batch.o $(SHARED_OBJ) \
	    $(LDLIBS) -lcriterion

# The fault simulator (tests/sim/): the ventilator's core on a simulated
# cluster. `make sim SEEDS=1000000` for a long run; `make test` runs 10,000.
$(B)/sim/sim: tests/sim/sim.c $(B)/ventilator/core.o $(B)/ventilator/ledger.o $(SHARED_OBJ) \
              Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(filter %.o,$^) $(LDLIBS)

SEEDS ?= 1000000
sim: $(B)/sim/sim
	@$(B)/sim/sim --seeds 0-$$(($(SEEDS) - 1)) --jobs $$(nproc)

$(B)/bench/%: tests/bench/%.c $(SHARED_OBJ) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(SHARED_OBJ) $(LDLIBS)

# peakrss runs a stage and reports its peak RSS: it links nothing, so that its
# own few pages are all a stage inherits (see the file).
$(B)/bench/peakrss: tests/bench/peakrss.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $<

# The main job: sink, workers and ventilator on loopback, the default workload,
# the summary JSON on stdout.
run: deps
	@$(MAKE) -s all
	@scripts/run -- $(ARGS)

test:
	@scripts/install-deps test
	@$(MAKE) -s tests
	@scripts/run-tests

# libFuzzer targets, one per decoder of outside bytes (tests/fuzz/); `make
# fuzz` runs them for FUZZ_TIME seconds in all, from their seed corpora.
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZERS    := proto input cert config
FUZZ_BINS  := $(FUZZERS:%=$(B)/fuzz/fuzz_%)
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
              -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -DZP_VERSION=\"fuzz\" -Ishared \
              $(shell $(PKG_CONFIG) --cflags libczmq 2>/dev/null)
FUZZ_SRC_proto := shared/zp_proto.c
FUZZ_SRC_input := shared/zp_input.c
FUZZ_SRC_cert  := shared/zp_curve.c shared/zp_zap.c shared/zp_util.c
FUZZ_SRC_config := shared/zp_options.c shared/zp_util.c

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard shared/*.h) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_SRC_$*) $(LDLIBS)

fuzz: deps
	@$(MAKE) -s $(FUZZ_BINS)
	@scripts/fuzz $(FUZZ_TIME) $(FUZZERS)

# The whole suite built with -Werror (gcc and clang), run under ASan+UBSan,
# the end-to-end run under valgrind, the fuzzers for 60 s, then clang-tidy,
# cppcheck and shellcheck: see scripts/check.
check:
	@scripts/install-deps test
	@scripts/check
# Benchmarks on this machine, in one go (issue 4): engines, the default
# workload against the Python program zpipe replaces, tiny tasks against a
# bare libzmq relay, peak memory. Markdown tables on stdout; JSON and a
# PNG chart in bench-results/. `make bench ARGS=--quick` for a smoke run.
bench:
	@scripts/install-deps bench
	@$(MAKE) -s all $(BENCH_BINS)
	@scripts/bench $(ARGS)

# Not part of `test`: 10 minutes of batches under random kills of every stage.
soak: deps
	@$(MAKE) -s all
	@tests/soak/soak.sh

# Not part of `test`: the sink paused (SIGSTOP) mid-batch for 4, 10 and 30 s,
# five times each (issue 12); about 10 minutes. chainrate sizes the batches.
soak-pause: deps
	@$(MAKE) -s all $(B)/tools/chainrate
	@tests/soak/pause.sh

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# Binaries and man pages; PREFIX and DESTDIR as usual. The Python worker's
# package goes to PREFIX/lib/zpipe/python (not a site-packages of one Python
# version), and its launcher zpipe-worker-py to PREFIX/bin: it finds the
# package from where it is, so a DESTDIR tree runs as installed.
BINDIR   := $(DESTDIR)$(PREFIX)/bin
MANDIR   := $(DESTDIR)$(PREFIX)/share/man/man1
MANPAGES := $(wildcard docs/*.1)
INCDIR   := $(DESTDIR)$(PREFIX)/include
PYDIR    := $(DESTDIR)$(PREFIX)/lib/zpipe/python/zpipe_worker
PYSRC    := $(wildcard worker/python/zpipe_worker/*.py)
install: all
	install -d $(BINDIR) $(MANDIR) $(INCDIR) $(PYDIR)
	install -m 0755 $(BINS) worker/python/zpipe-worker-py $(BINDIR)
	install -m 0644 $(MANPAGES) $(MANDIR)
	install -m 0644 shared/zpipe_handler.h $(INCDIR)
	install -m 0644 $(PYSRC) $(PYDIR)

# The package's directory goes whole: Python leaves __pycache__ in it.
uninstall:
	rm -f $(addprefix $(BINDIR)/,$(notdir $(BINS)) zpipe-worker-py)
	rm -f $(addprefix $(MANDIR)/,$(notdir $(MANPAGES)))
	rm -f $(addprefix $(UNITDIR)/,$(notdir $(UNITS)))
	rm -f $(INCDIR)/zpipe_handler.h
	rm -rf $(PYDIR)

# systemd units for the sink and a templated worker (README, "Running as a
# service"): only when asked, as they expect /etc/zpipe. Their ExecStart
# names the binaries under PREFIX.
UNITDIR := $(DESTDIR)$(PREFIX)/lib/systemd/system
UNITS   := $(wildcard scripts/systemd/*.service)
install-systemd:
	install -d $(UNITDIR)
	for unit in $(UNITS); do \
	    sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' $$unit >$(UNITDIR)/$$(basename $$unit) \
	    && chmod 0644 $(UNITDIR)/$$(basename $$unit) || exit 1; \
	done

uninstall-systemd:
	rm -f $(addprefix $(UNITDIR)/,$(notdir $(UNITS)))

clean:
	rm -rf $(B) $(BIN)
