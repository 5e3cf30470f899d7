using System.Security.Cryptography;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using ShopAstro.Silo;
using ShopAstro.Silo.Storage;

namespace ShopAstro.EdgeApi.Auth;

public static class AuthExtensions
{
    public static WebApplicationBuilder AddEdgeAuth(this WebApplicationBuilder builder)
    {
        var registry = TokenRegistry.FromConfiguration(builder.Configuration);
        if (registry.Count == 0 && ClusterSettings.RedisConnectionString(builder.Configuration) is null)
        {
            registry = new TokenRegistry([(EmbeddedAdminToken(builder.Configuration), new TokenGrant(EdgeRoles.Admin, [EdgePolicies.AllStores]))]);
        }

        builder.Services.AddSingleton(registry);
        builder.Services.AddAuthentication(BearerTokenHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, BearerTokenHandler>(BearerTokenHandler.SchemeName, null);
        builder.Services.AddSingleton<IAuthorizationHandler, StoreScopeHandler>();
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(EdgePolicies.Storefront, policy => policy
                .RequireAuthenticatedUser()
                .RequireRole(EdgeRoles.StorefrontAndUp)
                .AddRequirements(new StoreScopeRequirement()))
            .AddPolicy(EdgePolicies.Seller, policy => policy
                .RequireAuthenticatedUser()
                .RequireRole(EdgeRoles.Seller, EdgeRoles.Admin)
                .AddRequirements(new StoreScopeRequirement()))
            .AddPolicy(EdgePolicies.Aggregates, policy => policy
                .RequireAuthenticatedUser()
                .RequireRole(EdgeRoles.Partner, EdgeRoles.Seller, EdgeRoles.Admin)
                .AddRequirements(new StoreScopeRequirement()))
            .AddPolicy(EdgePolicies.Admin, policy => policy
                .RequireAuthenticatedUser()
                .RequireRole(EdgeRoles.Admin))
            .AddPolicy(EdgePolicies.FeedSubscriber, policy => policy
                .RequireAuthenticatedUser()
                .RequireRole(EdgeRoles.Seller, EdgeRoles.Admin));
        return builder;
    }

    /// <summary>
    /// The embedded default with no configured token: one admin token, created once, kept beside the
    /// SQLite data and printed when created.
    /// </summary>
    private static string EmbeddedAdminToken(IConfiguration configuration)
    {
        var file = Path.Combine(ConsentStore.FromConfiguration(configuration).DataFolder, "admin-token");
        var token = SecretFiles.ReadOrCreate(file, () => "sa_admin_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24)), out var created);
        if (!created)
        {
            Console.WriteLine($"Admin token: see {file}");
            return token;
        }

        Console.WriteLine($"Created the admin token (kept in {file}): {token}");
        return token;
    }
}
