namespace ShopAstro.Grains;

/// <summary>Configuration section <c>Policy</c>: how store policies change over time.</summary>
public sealed class PolicyOptions
{
    public const string Section = "Policy";

    /// <summary>
    /// §7: a version that changes a published purpose materially must be published at least this long before it
    /// takes effect (its <c>effectiveAt</c>). Zero lets material changes take effect at once.
    /// </summary>
    public TimeSpan MaterialNoticePeriod { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often the reminder tries again when a version that took effect could not be written as such.</summary>
    public TimeSpan EffectiveRetry { get; set; } = TimeSpan.FromMinutes(1);
}
