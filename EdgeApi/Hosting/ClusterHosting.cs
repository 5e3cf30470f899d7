using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Configuration;
using Orleans.Dashboard;
using ShopAstro.EdgeApi.Decisions;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Silo;
using ShopAstro.Stats;

namespace ShopAstro.EdgeApi.Hosting;

public static class ClusterHosting
{
    /// <summary>
    /// With <c>ConnectionStrings:Redis</c>: an Orleans client of the silo processes found through Redis
    /// membership. Without: the embedded default, one silo in this process.
    /// </summary>
    public static WebApplicationBuilder AddConsentCluster(this WebApplicationBuilder builder)
    {
        if (ClusterSettings.RedisConnectionString(builder.Configuration) is { } redis)
        {
            builder.UseOrleansClient(client =>
            {
                client.UseRedisClustering(redis);
                client.AddActivityPropagation();
                // Every call this edge starts carries a deadline: nothing is written for it once the edge has given up.
                client.AddOutgoingGrainCallFilter<ShopAstro.Silo.Fencing.CallDeadlineFilter>();
                client.AddDashboard();
                client.Configure(ClusterSettings.ConfigureCluster(builder.Configuration));
                client.Configure<GatewayOptions>(ClusterSettings.ConfigureGateways);
                client.Services.Configure<Orleans.Serialization.ExceptionSerializationOptions>(ClusterSettings.ConfigureExceptions);
            });
            // Checks answered from this process's decision cache are counted here and flushed like a silo's.
            builder.Services.AddSingleton<StoreStatsCollector>();
            builder.Services.AddHostedService<StatsFlusher>();
        }
        else
        {
            builder.UseOrleans(silo => silo.AddConsentSilo(builder.Configuration));
        }

        builder.Services.AddOptions<DecisionCacheOptions>().Bind(builder.Configuration.GetSection(DecisionCacheOptions.Section));
        builder.Services.AddSingleton<DecisionCache>();
        builder.Services.AddHostedService(services => services.GetRequiredService<DecisionCache>());

        builder.Services.AddHealthChecks()
            .AddCheck<ClusterReadiness>("cluster", tags: [ClusterReadiness.Tag])
            .AddCheck<CalendarCoverage>("calendar");
        return builder;
    }
}

/// <summary>Ready when a silo answers and reaches the consent store.</summary>
internal sealed class ClusterReadiness(IGrainFactory grains) : IHealthCheck
{
    public const string Tag = "ready";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await grains.GetGrain<IClusterHealthGrain>(0).CheckStorage().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception exception)
        {
            return HealthCheckResult.Unhealthy("The cluster or its storage does not answer.", exception);
        }
    }
}
