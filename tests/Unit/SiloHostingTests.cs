using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ShopAstro.Silo;

namespace ShopAstro.Tests.Unit;

/// <summary>How the silo is put together, read from its service registrations.</summary>
public sealed class SiloHostingTests
{
    [Theory]
    [InlineData(null, false)]
    [InlineData("false", false)]
    [InlineData("true", true)]
    public void The_Orleans_dashboards_per_second_counter_sampler_runs_only_when_asked_for(string? setting, bool expected)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:Consent"] = "Data Source=" + Path.Combine(Path.GetTempPath(), "unused-" + Guid.NewGuid().ToString("N") + ".db");
        builder.Configuration[SiloHostingExtensions.DashboardCountersKey] = setting;
        builder.UseOrleans(silo => silo.AddConsentSilo(builder.Configuration));

        // "true" finding it also shows that the sampler is still recognised in the dashboard package's registrations.
        Assert.Equal(expected, builder.Services.Any(SiloHostingExtensions.IsDashboardSampler));
    }

    [Fact]
    public void The_embedded_default_runs_no_dashboard_counter_sampler()
    {
        var folder = Path.Combine(Path.GetTempPath(), "embedded-" + Guid.NewGuid().ToString("N"));
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder();
        builder.Configuration["ConnectionStrings:Consent"] = "Data Source=" + Path.Combine(folder, "consent.db");
        builder.Configuration["Auth:Tokens:0:Token"] = "unit-admin-token";
        builder.Configuration["Auth:Tokens:0:Role"] = "admin";
        ShopAstro.EdgeApi.EdgeApplication.AddEdgeApi(builder);

        Assert.DoesNotContain(builder.Services, SiloHostingExtensions.IsDashboardSampler);
        Assert.DoesNotContain(builder.Services, d => d.ServiceType == typeof(IHostedService)
            && (d.ImplementationType ?? d.ImplementationFactory?.Method.DeclaringType)?.Assembly.GetName().Name == "Orleans.Dashboard");
    }

    /// <summary>
    /// What the registrations are for: nothing joins the silo's lifecycle or runs as a hosted service to read Orleans'
    /// observable instruments on a timer (the dashboard's host did, once a second, and one of them counts the whole grain
    /// directory cache) unless the counters are asked for. The objects the built host would start are resolved and
    /// looked at, so a registration the recogniser above misses (the dashboard's host also joined the lifecycle through a
    /// factory declared in Orleans) still shows up here. (Counting reads of a gauge on Orleans' meter instead is not
    /// reliable in this test process: any other host's meter listener enables instruments by meter name, process-wide.)
    /// </summary>
    [Theory]
    [InlineData(null, false)]
    [InlineData("true", true)]
    public void Only_the_dashboard_counters_setting_starts_the_dashboards_sampler_with_the_silo(string? setting, bool expected)
    {
        var folder = Path.Combine(Path.GetTempPath(), "sampler-" + Guid.NewGuid().ToString("N"));
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:Consent"] = "Data Source=" + Path.Combine(folder, "consent.db");
        builder.Configuration[SiloHostingExtensions.DashboardCountersKey] = setting;
        builder.UseOrleans(silo => silo.AddConsentSilo(builder.Configuration));
        using var host = builder.Build();

        var started = host.Services.GetServices<ILifecycleParticipant<ISiloLifecycle>>().Cast<object>()
            .Concat(host.Services.GetServices<IHostedService>())
            .Select(service => service.GetType())
            .Where(type => type.Assembly == typeof(Orleans.Dashboard.DashboardOptions).Assembly)
            .ToList();

        // The dashboard's grain-call profiler also joins the lifecycle (it pushes its call statistics to the dashboard's
        // grain, and reads no instrument); everything else of the dashboard's that starts with the silo is its host.
        Assert.Contains(started, type => type.FullName == "Orleans.Dashboard.Metrics.GrainProfiler");
        var sampler = started.Where(type => type.FullName != "Orleans.Dashboard.Metrics.GrainProfiler").ToList();
        Assert.True(expected == sampler.Count > 0, string.Join(", ", sampler));
        Assert.All(sampler, type => Assert.Equal("Orleans.Dashboard.DashboardHost", type.FullName));
    }
}
