/* Configuration validation: zdu_config_load_string() runs the daemon's own
 * loader and checks (zdu_config_load differs only in reading the file).
 * Never a crash; an error always says something; a loaded configuration
 * holds what validation promised, and frees cleanly. */
#include "fuzz_common.h"
#include <sys/socket.h>

#include "zdu/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_config cfg;
	char err[512];
	char *text = fuzz_strndup(data, size);
	enum zdu_err rc;

	err[0] = '\0';
	rc = zdu_config_load_string(text, "fuzz.conf", &cfg, err, sizeof(err));
	free(text);
	if (rc != ZDU_OK) {
		FUZZ_CHECK(err[0], "failed (%d) without a message", (int)rc);
		FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err), "message not terminated");
		return 0;
	}
	FUZZ_CHECK(cfg.path && strcmp(cfg.path, "fuzz.conf") == 0, "path not set");
	FUZZ_CHECK(cfg.listen.n > 0, "no listen address");
	for (size_t i = 0; i < cfg.listen.n; i++) {
		struct sockaddr_storage ss;

		/* zdu_listener_new() parses them again without checking. */
		FUZZ_CHECK(zdu_parse_hostport(cfg.listen.v[i], &ss) == 0, "listen \"%s\" accepted",
			   cfg.listen.v[i]);
	}
	FUZZ_CHECK(cfg.flag_file && cfg.flag_file[0] == '/', "flag.file \"%s\"",
		   cfg.flag_file ? cfg.flag_file : "(null)");
	FUZZ_CHECK(cfg.control_socket && cfg.control_socket[0] == '/' && strlen(cfg.control_socket) < 108,
		   "control.socket accepted");
	zdu_config_free(&cfg);
	return 0;
}
