using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

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
        // Orleans' ADO.NET storage runs every read and write through a Polly retry pipeline that logs each attempt at
        // Information: a console line per storage operation (about 6 % of the silo's CPU under first writes). Retries
        // and failures are Warning and above; configuration can still lower this per category.
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        builder.UseOrleans(silo => silo.AddConsentSilo(builder.Configuration));
        await builder.Build().RunAsync();
    }
}
