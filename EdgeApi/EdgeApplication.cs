using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Dashboard;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Decisions;
using ShopAstro.EdgeApi.Endpoints;
using ShopAstro.EdgeApi.Feed;
using ShopAstro.EdgeApi.Hosting;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.OpenApi;
using ShopAstro.EdgeApi.Telemetry;

namespace ShopAstro.EdgeApi;

public static class EdgeApplication
{
    /// <summary>Where the edge API listens unless ASPNETCORE_URLS or --urls say otherwise.</summary>
    public const string DefaultUrl = "http://localhost:5080";

    public static WebApplicationBuilder AddEdgeApi(this WebApplicationBuilder builder)
    {
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        // Orleans is chatty at Information; configuration can still lower these per category.
        builder.Logging.AddFilter("Orleans", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        // Request-start lines carry the query string, where the hub receives tokens (browsers cannot set headers
        // on WebSockets). Off entirely: while this category logs at any level, hosting gives every request a log
        // scope and an Activity to correlate its lines (a third of a check's allocations); failures are logged by
        // the exception handler and Kestrel.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // Every refused token would otherwise be an Information line: noise an attacker controls.
        builder.Logging.AddFilter(typeof(BearerTokenHandler).FullName, LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = JsonBody.MaxBytes);
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, EdgeJsonContext.Default);
            // As EdgeJsonContext reads bodies: numbers are JSON numbers (the OpenAPI schemas are generated with these options).
            json.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<EdgeExceptionHandler>();
        builder.Services.AddEdgeOpenApi();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.AddEdgeForwardedHeaders();
        builder.AddEdgeAuth();
        builder.AddEdgeRateLimiting();
        builder.Services.Configure<CheckOptions>(builder.Configuration.GetSection(CheckOptions.Section));
        builder.Services.AddOptions<AggregateOptions>().Bind(builder.Configuration.GetSection(AggregateOptions.Section))
            .Validate(options => options.MinimumGroupSize >= 1, "Aggregates:MinimumGroupSize must be 1 or more.")
            .ValidateOnStart();
        builder.AddConsentCluster();
        builder.AddLiveFeed();
        builder.AddEdgeTelemetry();
        return builder;
    }

    public static WebApplication MapEdgeApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        // Ahead of status code pages and routing: it answers only with 200s, and neither has work to do for them.
        // Ahead of the forwarded headers too: nothing it reads or answers depends on the client's address or scheme,
        // and reading the three headers cost 0.4 µs of the edge's 34 µs of CPU per check
        // (load-tests/results/20261206-edge-overheads.md).
        app.UseMiddleware<CheckFastPath>();
        app.UseForwardedHeaders();
        app.UseStatusCodePages();
        app.UseBodyLimit();
        app.UseRouting();
        app.UseAuthentication();
        app.UseMiddleware<PartnerConfinement>();
        app.UseTokenRateLimits();
        app.UseAuthorization();

        app.MapOperationsEndpoints();
        app.MapEdgeTelemetry();
        app.MapDashboardLogin();
        app.MapOrleansDashboard(BearerTokenHandler.DashboardPath).RequireAuthorization(EdgePolicies.Admin);
        var store = app.MapGroup("/v1/stores/{storeId}").WithTags(EdgeOperations.StoresTag).ProducesStoreProblems();
        store.MapDecisionEndpoints(checkRequestDuration: app.Configuration.GetValue(TelemetryExtensions.CheckRequestDurationKey, false));
        store.MapSubjectEndpoints();
        store.MapPolicyEndpoints();
        store.MapStatsHistoryEndpoints();
        store.MapRequestEndpoints();
        store.MapDownstreamEndpoints();
        app.MapLiveFeed();
        app.MapDashboard();
        return app;
    }
}
