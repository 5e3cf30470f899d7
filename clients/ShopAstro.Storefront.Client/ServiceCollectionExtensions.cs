using ShopAstro.Storefront.Client;

namespace Microsoft.Extensions.DependencyInjection;

public static class ShopAstroConsentServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ConsentClient"/> as a typed client of <c>IHttpClientFactory</c>, with its options
    /// validated at start. The returned builder adds handlers (retries, a test server's handler, ...).
    /// </summary>
    public static IHttpClientBuilder AddShopAstroConsent(this IServiceCollection services, Action<ConsentClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ConsentClientOptions>()
            .Configure(configure)
            .Validate(o => o.BaseAddress is { IsAbsoluteUri: true }, "ShopAstro BaseAddress must be the edge API's absolute root, e.g. http://localhost:5080/.")
            .Validate(o => !string.IsNullOrWhiteSpace(o.Token), "ShopAstro Token (the storefront's bearer token) is not set.")
            .Validate(o => o.StoreId is null || ConsentIds.IsValid(o.StoreId), "ShopAstro StoreId must be 1 to 128 characters of A-Z a-z 0-9 . _ : -")
            .Validate(o => o.Timeout > TimeSpan.Zero, "ShopAstro Timeout must be positive.")
            .ValidateOnStart();
        return services.AddHttpClient<ConsentClient>();
    }
}
