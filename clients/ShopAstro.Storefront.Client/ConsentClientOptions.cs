namespace ShopAstro.Storefront.Client;

/// <summary>Where the edge is and how to call it. Configuration section <c>ShopAstro</c> in the sample.</summary>
public sealed class ConsentClientOptions
{
    /// <summary>The edge API's root, e.g. <c>http://localhost:5080/</c>.</summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>The storefront's bearer token. It stays on the server: never render it into a page.</summary>
    public string? Token { get; set; }

    /// <summary>This storefront's store: what the middleware checks against.</summary>
    public string? StoreId { get; set; }

    /// <summary>How long one call may take before the edge counts as unavailable. Decisions are on every page view.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>What a decision call answers when the edge cannot be reached or fails (5xx). Never fail-open.</summary>
    public UnavailableBehavior WhenUnavailable { get; set; } = UnavailableBehavior.DenyAllButNecessary;
}

/// <summary>Decisions when the edge is unreachable. Every choice is fail-closed for consent-based purposes.</summary>
public enum UnavailableBehavior
{
    /// <summary>Every purpose but <c>necessary</c> denied with reason <c>unavailable</c> (the default).</summary>
    DenyAllButNecessary,

    /// <summary>Also <c>cart</c> allowed (reason <c>contract</c>): add-to-cart keeps working during an outage.</summary>
    DenyConsentBased,

    /// <summary>Throw a <see cref="ConsentApiException"/> with <see cref="ConsentApiException.IsUnavailable"/>.</summary>
    Throw,
}
