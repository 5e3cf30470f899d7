using Microsoft.Extensions.Hosting;

namespace ShopAstro.Silo;

/// <summary>
/// A silo process of the production topology: clustering through ConnectionStrings:Redis, storage
/// through ConnectionStrings:Consent.
/// </summary>
public static class SiloProgram
{
    public static async Task Main(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.UseOrleans(silo => silo.AddConsentSilo(builder.Configuration));
        await builder.Build().RunAsync();
    }
}
