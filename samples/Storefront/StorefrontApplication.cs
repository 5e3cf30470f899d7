using Microsoft.Extensions.FileProviders;
using ShopAstro.Storefront.Client;

namespace ShopAstro.Samples.Storefront;

public static class StorefrontApplication
{
    /// <summary>Where the sample listens unless ASPNETCORE_URLS or --urls say otherwise (the edge API is on 5080).</summary>
    public const string DefaultUrl = "http://localhost:5090";

    /// <summary>The edge: configuration keys <c>ShopAstro:BaseAddress</c>, <c>ShopAstro:Token</c>, <c>ShopAstro:StoreId</c>.</summary>
    public const string ConfigurationSection = "ShopAstro";

    public static WebApplicationBuilder AddStorefront(this WebApplicationBuilder builder)
    {
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        var configuration = builder.Configuration;
        builder.Services.AddShopAstroConsent(options => configuration.GetSection(ConfigurationSection).Bind(options));
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, StorefrontJsonContext.Default));
        builder.Services.AddProblemDetails();
        return builder;
    }

    public static WebApplication MapStorefront(this WebApplication app)
    {
        app.UseExceptionHandler();
        // The web root when there is one (the project folder, WebApplicationFactory), else the embedded copies.
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = new CompositeFileProvider(
                app.Environment.WebRootFileProvider,
                new EmbeddedFileProvider(typeof(SampleStorefront).Assembly, "ShopAstro.Samples.Storefront.wwwroot")),
            OnPrepareResponse = files => files.Context.Response.Headers.CacheControl = "no-cache",
        });
        app.UseShopAstroConsent(consent => consent.PurposesForRequest = StorefrontEndpoints.PurposesFor);
        app.MapStorefrontEndpoints();
        return app;
    }
}
