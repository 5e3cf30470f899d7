using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace ShopAstro.EdgeApi.Hosting;

/// <summary>
/// Behind a TLS-terminating proxy (the compose file's nginx), <c>X-Forwarded-Proto</c> and <c>X-Forwarded-For</c> from
/// a known proxy make the request HTTPS (so the dashboard's login cookie is <c>Secure</c>) and name the client.
/// Known proxies: loopback (ASP.NET Core's default), plus <c>ForwardedHeaders:KnownProxies:N</c> (addresses) and
/// <c>ForwardedHeaders:KnownNetworks:N</c> (CIDR); the headers of anyone else are ignored.
/// </summary>
public static class ForwardedHeadersSetup
{
    public const string Section = "ForwardedHeaders";

    public static WebApplicationBuilder AddEdgeForwardedHeaders(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(Section);
        var proxies = Values(section, "KnownProxies")
            .Select(value => IPAddress.TryParse(value, out var address) ? address : throw Invalid("KnownProxies", value, "an IP address"))
            .ToList();
        var networks = Values(section, "KnownNetworks")
            .Select(value => System.Net.IPNetwork.TryParse(value, out var network) ? network : throw Invalid("KnownNetworks", value, "a network in CIDR form (10.0.0.0/8)"))
            .ToList();
        builder.Services.Configure<ForwardedHeadersOptions>(options =>
        {
            options.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            proxies.ForEach(options.KnownProxies.Add);
            networks.ForEach(options.KnownIPNetworks.Add);
        });
        return builder;
    }

    private static IEnumerable<string> Values(IConfigurationSection section, string key) =>
        section.GetSection(key).GetChildren().Select(child => child.Value?.Trim()).OfType<string>().Where(value => value.Length > 0);

    private static InvalidOperationException Invalid(string key, string value, string expected) =>
        new($"{Section}:{key}: '{value}' is not {expected}.");
}
