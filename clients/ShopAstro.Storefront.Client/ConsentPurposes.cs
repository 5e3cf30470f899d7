namespace ShopAstro.Storefront.Client;

/// <summary>The purposes of the contract, as their stable wire ids.</summary>
public static class ConsentPurposes
{
    /// <summary>Browsing, login state, security: always allowed, not consent-based.</summary>
    public const string Necessary = "necessary";

    /// <summary>Add-to-cart and checkout: allowed by contract, not consent-based.</summary>
    public const string Cart = "cart";

    /// <summary>Tracking: browsing and click logs, statistics.</summary>
    public const string Analytics = "analytics";

    /// <summary>Behavioural data used for product recommendations.</summary>
    public const string Recommendation = "recommendation";

    /// <summary>Ad targeting, sharing with advertising partners.</summary>
    public const string Advertising = "advertising";

    /// <summary>Sharing with affiliated companies.</summary>
    public const string AffiliateSharing = "affiliate_sharing";

    /// <summary>Every purpose, in the contract's order.</summary>
    public static IReadOnlyList<string> All { get; } = [Necessary, Cart, Analytics, Recommendation, Advertising, AffiliateSharing];

    /// <summary>The purposes a shopper grants or withdraws (the banner's toggles).</summary>
    public static IReadOnlyList<string> ConsentBased { get; } = [Analytics, Recommendation, Advertising, AffiliateSharing];

    public static bool IsKnown(string? purpose) => purpose is not null && All.Contains(purpose, StringComparer.Ordinal);

    public static bool IsConsentBased(string? purpose) => purpose is not null && ConsentBased.Contains(purpose, StringComparer.Ordinal);
}

/// <summary>The contract's reason codes, and <see cref="Unavailable"/> and <see cref="NotChecked"/> of this client.</summary>
public static class ConsentReasons
{
    public const string Necessary = "necessary";
    public const string Contract = "contract";
    public const string Granted = "granted";
    public const string Withdrawn = "withdrawn";
    public const string NoConsent = "no_consent";
    public const string ReconsentRequired = "reconsent_required";
    public const string DoNotTrack = "do_not_track";
    public const string GlobalPrivacyControl = "global_privacy_control";
    public const string PurposeDisabled = "purpose_disabled";
    public const string StoreUnknown = "store_unknown";
    public const string StoreSuspended = "store_suspended";
    public const string AccountCancelled = "account_cancelled";
    public const string Minor = "minor";

    /// <summary>The client's own: the edge could not be asked, so the purpose is denied (fail-closed).</summary>
    public const string Unavailable = "unavailable";

    /// <summary>The client's own: this request was not checked (a skipped path, or the middleware is not in the pipeline).</summary>
    public const string NotChecked = "not_checked";
}

/// <summary>Values of <c>source</c> on a consent write.</summary>
public static class ConsentSources
{
    public const string Banner = "banner";
    public const string AccountSettings = "account_settings";
    public const string Api = "api";
    public const string Import = "import";
}
