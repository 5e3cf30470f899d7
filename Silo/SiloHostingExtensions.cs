using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Serialization;
using Orleans.Storage;
using ShopAstro.Grains.Downstream;
using ShopAstro.Grains.Feed;
using ShopAstro.Grains.Requests;
using ShopAstro.Grains.Stats;
using ShopAstro.Grains;
using ShopAstro.Silo.Storage;
using ShopAstro.Stats;

namespace ShopAstro.Silo;

public static class SiloHostingExtensions
{
    /// <summary><c>Orleans:DashboardCounters</c>: the Orleans dashboard's per-second silo counters (off by default).</summary>
    public const string DashboardCountersKey = "Orleans:DashboardCounters";

    /// <summary>
    /// A consent silo: grains, ADO.NET storage (schema applied at start-up) and clustering. With
    /// <c>ConnectionStrings:Redis</c> it joins the cluster through Redis membership; without, it is the
    /// one local silo of the embedded default.
    /// </summary>
    public static ISiloBuilder AddConsentSilo(this ISiloBuilder silo, IConfiguration configuration)
    {
        var store = ConsentStore.FromConfiguration(configuration);
        var services = silo.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(store);
        services.AddSingleton<IStorageProbe, ConsentStorageProbe>();
        services.AddSingleton<ShopAstro.Grains.Leases.ISubjectIndexSource, ConsentSubjectIndexSource>();
        services.AddSingleton<ISubjectRecordSource, ConsentSubjectRecordSource>();
        services.AddSingleton<ShopAstro.Coherence.UnresponsiveHolders>();
        services.AddSingleton<ShopAstro.Coherence.RegisteredHolders>(
            provider => new(provider.GetRequiredService<TimeProvider>(), provider.GetRequiredService<IGrainFactory>()));
        services.AddSingleton<ShopAstro.Coherence.HolderExpulsions>(
            provider => new(provider.GetRequiredService<TimeProvider>(), provider.GetRequiredService<IGrainFactory>()));
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, ConsentSchemaSetup>();
        services.AddOptions<ConsentClusterOptions>()
            .Bind(configuration.GetSection(ConsentClusterOptions.Section))
            .PostConfigure(options => options.AnonymisationKey ??= AnonymisationKeys.EmbeddedDefault(configuration, store))
            .Validate(options => AnonymisationKeys.Problem(options.AnonymisationKey) is null, AnonymisationKeys.Requirement)
            .ValidateOnStart();
        services.AddSingleton<SubjectAnonymiser>();
        services.AddSubjectGrainServices();
        services.AddSingleton<RequestRepeatKeys>();
        services.AddSingleton<StoreStatsCollector>();
        services.AddHostedService<StatsFlusher>();
        services.AddOptions<StatsHistoryOptions>().Bind(configuration.GetSection(StatsHistoryOptions.Section))
            .Validate(options => options.Interval > TimeSpan.Zero && options.Retention >= TimeSpan.FromDays(1),
                "StatsHistory:Interval must be positive and StatsHistory:Retention at least one day.")
            .ValidateOnStart();
        services.AddSingleton<IStatsHistoryStore, ConsentStatsHistoryStore>();
        services.AddHostedService<StatsHistoryPurge>();
        // Request deadlines count working days of this calendar: a JSON file (Requests:Calendar), a folder of yearly
        // files (Requests:CalendarFolder) or the calendars built in. Loaded now, so that a bad file stops the start.
        services.AddOptions<RequestOptions>().Bind(configuration.GetSection(RequestOptions.Section));
        services.AddOptions<PolicyOptions>().Bind(configuration.GetSection(PolicyOptions.Section))
            .Validate(options => options.MaterialNoticePeriod >= TimeSpan.Zero && options.EffectiveRetry > TimeSpan.Zero,
                "Policy:MaterialNoticePeriod must not be negative and Policy:EffectiveRetry must be positive.")
            .ValidateOnStart();
        services.AddSingleton(CalendarSources.Load(configuration.GetSection(RequestOptions.Section).Get<RequestOptions>() ?? new()));
        // Tests and small deployments check retention more often than Orleans' one-minute default allows.
        services.AddOptions<ReminderOptions>().Configure<Microsoft.Extensions.Options.IOptions<ConsentClusterOptions>,
            Microsoft.Extensions.Options.IOptions<PolicyOptions>, Microsoft.Extensions.Options.IOptions<DownstreamOptions>>((reminders, consent, policy, downstream) =>
        {
            TimeSpan[] periods = [consent.Value.AnonymousRetentionCheck, consent.Value.RequestOverdueCheck, policy.Value.EffectiveRetry, downstream.Value.ReminderPeriod];
            var shortest = periods.Min();
            if (shortest < reminders.MinimumReminderPeriod)
            {
                reminders.MinimumReminderPeriod = shortest;
            }
        });
        // Downstream propagation: the outbox and the systems in the consent store, one deliverer grain per system.
        services.AddOptions<DownstreamOptions>().Bind(configuration.GetSection(DownstreamOptions.Section));
        services.AddSingleton<OutboxStaging>();
        services.AddSingleton<IDownstreamStore, DownstreamStore>();
        services.AddSingleton<DownstreamSender>();
        services.Configure(ClusterSettings.ConfigureCluster(configuration));
        services.Configure<Orleans.Serialization.ExceptionSerializationOptions>(ClusterSettings.ConfigureExceptions);

        silo.AddAdoNetGrainStorage(StorageNames.Consent, options =>
        {
            options.Invariant = store.Invariant;
            options.ConnectionString = store.ConnectionString;
        });
        // Orleans' own binary format: version-tolerant through the [Id] attributes of the state records.
        services.AddOptions<AdoNetGrainStorageOptions>(StorageNames.Consent)
            .Configure<Serializer>((options, serializer) => options.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer));
        // The same storage, its reads and writes sent in groups, with the outbox rows of a subject's downstream event in the
        // transaction of its write.
        services.AddSingleton(provider => new GroupCommit(store, provider.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddSingleton(_ => new GroupRead(store));
        services.AddKeyedSingleton<IGrainStorage>(StorageNames.Consent, (provider, _) => new ConsentGrainStorage(
            AdoNetGrainStorageFactory.Create(provider, StorageNames.Consent),
            StorageNames.Consent,
            ClusterSettings.ServiceId,
            provider.GetRequiredService<GroupRead>(),
            provider.GetRequiredService<GroupCommit>(),
            provider.GetRequiredService<OutboxStaging>(),
            provider.GetRequiredService<Orleans.Serialization.Serializers.IActivatorProvider>()));
        // Durable reminders in the same store; ReminderSchema provides the table and its queries.
        silo.UseAdoNetReminderService(options =>
        {
            options.Invariant = store.Invariant;
            options.ConnectionString = store.ConnectionString;
        });

        // Traces follow grain calls across processes; the Orleans dashboard collects from every silo.
        silo.AddActivityPropagation();
        // Calls started in this process outside a grain (the embedded edge's requests, background services) get a deadline.
        silo.AddOutgoingGrainCallFilter<Fencing.CallDeadlineFilter>();
        silo.AddDashboard();
        if (!configuration.GetValue(DashboardCountersKey, false))
        {
            // The dashboard's counter sampler reads every Orleans instrument once a second, among them the grain
            // directory cache's size: a count over the whole cache, which took 9-15 % of a silo's CPU with a million
            // subjects active (load-tests/). Without it the dashboard shows grains, methods and silos but no
            // per-second silo counters; /metrics still has every Orleans series, read when scraped.
            foreach (var sampler in services.Where(IsDashboardSampler).ToList())
            {
                services.Remove(sampler);
            }
        }

        var siloPort = configuration.GetValue("Orleans:SiloPort", EndpointOptions.DEFAULT_SILO_PORT);
        var gatewayPort = configuration.GetValue("Orleans:GatewayPort", EndpointOptions.DEFAULT_GATEWAY_PORT);
        if (ClusterSettings.RedisConnectionString(configuration) is { } redis)
        {
            silo.UseRedisClustering(redis);
            services.Configure<ClusterMembershipOptions>(ClusterSettings.ConfigureMembership);
            // Silos that can be declared dead and replaced answer only while their membership is confirmed (S1).
            services.AddSingleton(provider => new ShopAstro.Coherence.MembershipFence(provider.GetRequiredService<TimeProvider>(), ClusterSettings.FenceValidity));
            services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, Fencing.MembershipConfirmation>();
            silo.AddIncomingGrainCallFilter<Fencing.MembershipFenceFilter>();
            silo.ConfigureEndpoints(
                IPAddress.Parse(configuration["Orleans:AdvertisedIP"] ?? "127.0.0.1"), siloPort, gatewayPort, listenOnAnyHostAddress: false);
        }
        else
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort);
        }

        return silo;
    }

    /// <summary>
    /// How Microsoft.Orleans.Dashboard starts its internal DashboardHost: the host itself, a hosted service (a factory
    /// of the dashboard's) and a participant in the silo's lifecycle (Orleans' AddFromExisting, a factory of Orleans'
    /// holding the host's type). Either starts the counter sampler (a meter provider reading Orleans' instruments on a
    /// timer) and warms the dashboard's grains, which otherwise start on first use. The host's own registration goes
    /// too, so that anything else still asking for it fails at start-up instead of starting the sampler unseen.
    /// </summary>
    public static bool IsDashboardSampler(ServiceDescriptor descriptor) =>
        descriptor.ServiceType == DashboardHost
        || (descriptor.ServiceType == typeof(IHostedService)
            && (descriptor.ImplementationType ?? descriptor.ImplementationFactory?.Method.DeclaringType)?.Assembly == typeof(DashboardOptions).Assembly)
        || (descriptor.ServiceType == typeof(ILifecycleParticipant<ISiloLifecycle>) && FactoryOf(descriptor, DashboardHost));

    private static readonly Type? DashboardHost = typeof(DashboardOptions).Assembly.GetType("Orleans.Dashboard.DashboardHost");

    /// <summary>A factory that resolves <paramref name="type"/>: one declared for it, or a closure holding it.</summary>
    private static bool FactoryOf(ServiceDescriptor descriptor, Type? type) =>
        type is not null && descriptor.ImplementationFactory is { } factory
        && (factory.Method.DeclaringType == type
            || (factory.Target is { } closure && closure.GetType().GetFields().Any(f => f.FieldType == typeof(Type) && (Type?)f.GetValue(closure) == type)));
}

/// <summary>
/// The key of <see cref="SubjectAnonymiser"/>. Every silo of a cluster must share it, so a clustered silo
/// requires <c>Consent:AnonymisationKey</c>; the embedded default creates one in its data folder.
/// </summary>
internal static class AnonymisationKeys
{
    public const int MinimumBytes = 32;

    public const string Requirement =
        "Consent:AnonymisationKey must be the base64 of at least 32 random bytes (openssl rand -base64 32), not all zero.";

    /// <summary>What is wrong with <paramref name="key"/>, or null if it will do.</summary>
    public static string? Problem(string? key)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            return "missing";
        }

        var bytes = new byte[key.Length];
        if (!Convert.TryFromBase64String(key.Trim(), bytes, out var length))
        {
            return "not base64";
        }

        if (length < MinimumBytes)
        {
            return $"{length} bytes";
        }

        return bytes.AsSpan(0, length).ContainsAnyExcept((byte)0) ? null : "all zero";
    }

    public static string EmbeddedDefault(IConfiguration configuration, ConsentStore store)
    {
        if (ClusterSettings.RedisConnectionString(configuration) is not null)
        {
            throw new InvalidOperationException(
                "Consent:AnonymisationKey (base64, 32 random bytes) must be configured, the same on every silo.");
        }

        return SecretFiles.ReadOrCreate(
            Path.Combine(store.DataFolder, "anonymisation.key"),
            () => Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(MinimumBytes)),
            out _);
    }
}
