/* SPDX-License-Identifier: MIT */
/*
 * fake-jobd-v2 [echo|v1]: the version 2 test server of fake_v2.h as a
 * program, for tests that drive jobctl. Listens on an ephemeral loopback
 * port, prints the port on one line of standard output, and serves until
 * killed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "fake_v2.h"

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	enum fake_v2_mode mode = FAKE_V2_ECHO;
	int fd;

	if (argc > 1 && !strcmp(argv[1], "v1"))
		mode = FAKE_V2_AS_V1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0 ||
	    listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("fake-jobd-v2");
		return 1;
	}
	printf("%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	fake_v2_serve(fd, mode);
}
