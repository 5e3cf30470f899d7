using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Integration;

/// <summary>TLS is Kestrel configuration: an HTTPS endpoint with a certificate, no code change.</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task The_edge_serves_https_from_configuration()
    {
        var folder = Directory.CreateTempSubdirectory("shopastro-tls-");
        try
        {
            using var key = RSA.Create(2048);
            var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(System.Net.IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            var pfx = Path.Combine(folder.FullName, "edge.pfx");
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "test-password"));

            var url = $"https://127.0.0.1:{EdgeApiFactory.FreePort()}";
            await using var edge = ServiceProcess.Start("EdgeApi", new Dictionary<string, string>
            {
                ["Kestrel__Endpoints__Https__Url"] = url,
                ["Kestrel__Endpoints__Https__Certificate__Path"] = pfx,
                ["Kestrel__Endpoints__Https__Certificate__Password"] = "test-password",
                ["ConnectionStrings__Consent"] = $"Data Source={Path.Combine(folder.FullName, "consent.db")}",
                ["Orleans__SiloPort"] = EdgeApiFactory.FreePort().ToString(),
                ["Orleans__GatewayPort"] = EdgeApiFactory.FreePort().ToString(),
                ["Auth__Tokens__0__Token"] = "tls-admin",
                ["Auth__Tokens__0__Role"] = "admin",
            });

            using var handler = new HttpClientHandler
            {
                // Trust exactly the certificate the edge was given.
                ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented?.Thumbprint == certificate.Thumbprint,
            };
            using var client = new HttpClient(handler) { BaseAddress = new Uri(url) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            HttpResponseMessage? live = null;
            while (live is null)
            {
                try
                {
                    live = await client.GetAsync("/health/live");
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline && !edge.HasExited)
                {
                    await Task.Delay(250);
                }
            }

            await live.ShouldBeOkAsync();
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "tls-admin");
            await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
