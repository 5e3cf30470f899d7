namespace ShopAstro.EdgeApi.Auth;

public static class EdgeRoles
{
    public const string Storefront = "storefront";
    public const string Seller = "seller";
    public const string Admin = "admin";

    /// <summary>Advertising and statistics partners (privacy policy §3): the partner-safe aggregates of their stores, nothing else.</summary>
    public const string Partner = "partner";

    public static bool IsKnown(string? role) => role is Storefront or Seller or Partner or Admin;

    /// <summary>The roles of <see cref="EdgePolicies.Storefront"/>: decisions, consent writes, link, age, the policy.</summary>
    public static readonly string[] StorefrontAndUp = [Storefront, Seller, Admin];
}

/// <summary>Authorization policies named by the routes.</summary>
public static class EdgePolicies
{
    /// <summary>Decisions, batch, consent writes, link, age and reading the policy: storefronts and up.</summary>
    public const string Storefront = "storefront";

    /// <summary>Every route of a store: its sellers and admins.</summary>
    public const string Seller = "seller";

    /// <summary>The partner-safe aggregates: partners, sellers and admins of the store.</summary>
    public const string Aggregates = "aggregates";

    /// <summary>Operators only: the Orleans dashboard.</summary>
    public const string Admin = "admin";

    /// <summary>The live feed: sellers and admins; the store is checked per subscription.</summary>
    public const string FeedSubscriber = "feed";

    public const string StoreClaim = "shopastro:store";
    public const string TokenIdClaim = "shopastro:token";
    public const string AllStores = "*";
}
