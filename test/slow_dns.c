/*
 * slow_dns.c: an LD_PRELOAD shim for test/t/051_external_function_attacks.pl.
 * A name containing "slow-dns.invalid" takes 60 seconds to fail to resolve,
 * as a name whose DNS server never answers does; every other name resolves
 * as usual.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			struct addrinfo **res)
{
	static int	(*real) (const char *, const char *, const struct addrinfo *,
						 struct addrinfo **);

	if (node != NULL && strstr(node, "slow-dns.invalid") != NULL)
	{
		sleep(60);
		return EAI_AGAIN;
	}
	if (real == NULL)
		real = dlsym(RTLD_NEXT, "getaddrinfo");
	return real(node, service, hints, res);
}
