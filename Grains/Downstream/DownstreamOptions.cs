namespace ShopAstro.Grains.Downstream;

/// <summary>Delivery of events to downstream systems (configuration section <c>Downstream</c>).</summary>
public sealed class DownstreamOptions
{
    public const string Section = "Downstream";

    /// <summary>How long one delivery attempt may take before it counts as failed.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The wait after the first failed attempt; doubled after each further failure, up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryInitialDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>An event not acknowledged this long after its change is marked failed (and its subject id dropped).</summary>
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromDays(3);

    /// <summary>How often each system's reminder wakes its deliverer, whatever happened to the silo that ran it.</summary>
    public TimeSpan ReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Whether webhooks may point at loopback, private, link-local or carrier-grade NAT addresses (tests, a receiver
    /// inside the cluster's own network). Off: such URLs are refused at registration and such connections at delivery.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>How long acknowledged rows (without subject id or body) are kept for the delivered count and latency.</summary>
    public TimeSpan AcknowledgedRetention { get; set; } = TimeSpan.FromDays(7);
}
