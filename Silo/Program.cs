using Microsoft.Extensions.Hosting;
using ShopAstro.Silo;

// A silo process of the production topology: clustering through ConnectionStrings:Redis, storage through ConnectionStrings:Consent.
var builder = Host.CreateApplicationBuilder(args);
builder.UseOrleans(silo => silo.AddConsentSilo(builder.Configuration));
await builder.Build().RunAsync();
